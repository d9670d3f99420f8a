# shellcheck shell=bash
# The migshaper namespace lab: functions sourced by scripts/lab.sh, the lab
# tests (tests/lab/lib.sh), the benchmarks and the demo.
#
# Topology (everything below is created by lab_up and removed by lab_down):
#
#   ms-hv1 (source hypervisor)       ms-wire (hv1's physical link)
#   ms-hv1-up 198.18.0.1 ----veth---- ms-wire-hv1 \ bridge ms-wire-br
#            fd00::1                  ms-wire-sw  / TBF LAB_WIRE_MBIT, FIFO
#                                        |
#                                      veth
#                                        |
#   ms-sw (switch): bridge ms-sw-br with ms-sw-wire, ms-sw-hv2, ms-sw-mgr
#                                        |                       |
#   ms-hv2 (destination) ms-hv2-eth 198.18.0.2 / fd00::2         |
#   ms-mgr (manager)     ms-mgr-eth 198.18.0.3 / fd00::3  -------'
#
# The only bottleneck is the TBF on ms-wire-sw (hv1 -> rest of the network):
# LAB_WIRE_MBIT (default 1000) with a tail-drop FIFO of LAB_WIRE_QUEUE_PKTS
# full-size packets (default 1000, a NIC's usual txqueuelen), so without the
# agent the queue and the drops form there, as on a saturated NIC.
#
# Only names starting with "ms-" and addresses in 198.18.0.0/24 (RFC 2544
# benchmarking range) and fd00::/64 (ULA) are used.

# LAB_PREFIX (at most 3 characters) names everything, so that labs with
# different prefixes can run side by side (their addresses live in their own
# namespaces; names and the agent's pins are what must differ).
LAB_PREFIX=${LAB_PREFIX:-ms}
LAB_NS_HV1=$LAB_PREFIX-hv1
LAB_NS_WIRE=$LAB_PREFIX-wire
LAB_NS_SW=$LAB_PREFIX-sw
LAB_NS_HV2=$LAB_PREFIX-hv2
LAB_NS_MGR=$LAB_PREFIX-mgr
LAB_ALL_NS=("$LAB_NS_HV1" "$LAB_NS_WIRE" "$LAB_NS_SW" "$LAB_NS_HV2" "$LAB_NS_MGR")

LAB_HV1_IF=$LAB_PREFIX-hv1-up
LAB_WIRE_IN=$LAB_PREFIX-wire-hv1
LAB_WIRE_OUT=$LAB_PREFIX-wire-sw
LAB_WIRE_BR=$LAB_PREFIX-wire-br
LAB_SW_BR=$LAB_PREFIX-sw-br
LAB_SW_WIRE=$LAB_PREFIX-sw-wire
LAB_SW_HV2=$LAB_PREFIX-sw-hv2
LAB_SW_MGR=$LAB_PREFIX-sw-mgr
LAB_HV2_IF=$LAB_PREFIX-hv2-eth
LAB_MGR_IF=$LAB_PREFIX-mgr-eth

LAB_HV1_IP=198.18.0.1
LAB_HV2_IP=198.18.0.2
LAB_MGR_IP=198.18.0.3
LAB_HV1_IP6=fd00::1
LAB_HV2_IP6=fd00::2
LAB_MGR_IP6=fd00::3

LAB_WIRE_MBIT=${LAB_WIRE_MBIT:-1000}
LAB_WIRE_QUEUE_PKTS=${LAB_WIRE_QUEUE_PKTS:-1000}
# LAB_OFFLOAD=1 (default) keeps the veths' TSO/GSO on (GRO is off on a veth
# by default), as on a real hypervisor NIC, whose qdisc also sees 64 KiB
# TSO super-packets. LAB_OFFLOAD=0 turns GSO/TSO/GRO off. Measured on this
# 2-core machine, 4 cubic flows through a 1 Gbit wire: with offloads off the
# per-packet cost makes the CPUs the bottleneck (softirq ~55%, drops in the
# softnet backlog, the wire's TBF never holds more than 1 packet, heartbeat
# RTT set by CPU scheduling); with offloads on the CPUs are 40% idle and the
# queue (1.2 MB, i.e. ~10 ms) and the drops form in the wire's FIFO.
LAB_OFFLOAD=${LAB_OFFLOAD:-1}
# The hypervisors' congestion control. The host here defaults to bbr, which
# paces itself and hides queueing; cubic is what a stock KVM host runs. Use
# lab_iperf_client, which passes it to iperf3 (-C).
LAB_TCP_CC=${LAB_TCP_CC:-cubic}
LAB_MTU=1500
# LAB_HV1_TXQUEUES=N (N > 1) gives hv1's uplink N TX and RX queues and the
# root qdisc a multi-queue NIC has (mq, one pfifo_fast per queue);
# LAB_WIRE_MBIT=0 takes the wire's bottleneck away (the multiqueue lab).
LAB_HV1_TXQUEUES=${LAB_HV1_TXQUEUES:-1}

lab_log() { echo "lab: $*" >&2; }

lab_ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

# lab_check_prereqs: returns 77 (and says why) if the lab cannot run here.
lab_check_prereqs() {
	if [ "$(id -u)" -ne 0 ]; then
		lab_log "must run as root"
		return 77
	fi
	local c
	for c in ip tc ss ethtool jq iperf3 timeout nsenter; do
		if ! command -v "$c" >/dev/null 2>&1; then
			lab_log "missing command: $c"
			return 77
		fi
	done
	if ! ip netns add "$LAB_PREFIX-probe-$$" 2>/dev/null; then
		lab_log "cannot create network namespaces"
		return 77
	fi
	ip netns del "$LAB_PREFIX-probe-$$"
	return 0
}

lab_down() {
	local ns pids
	for ns in "${LAB_ALL_NS[@]}"; do
		lab_ns_exists "$ns" || continue
		# Kill what still runs inside (iperf3, heartbeat, an agent).
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill -TERM $pids 2>/dev/null
			local _
			for _ in $(seq 1 50); do
				pids=$(ip netns pids "$ns" 2>/dev/null)
				[ -z "$pids" ] && break
				sleep 0.1
			done
			# shellcheck disable=SC2086
			[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		fi
	done
	for ns in "${LAB_ALL_NS[@]}"; do
		lab_ns_exists "$ns" && ip netns del "$ns"
	done
	# An agent killed hard leaves its pins behind: they are keyed by ifname.
	rm -rf "/sys/fs/bpf/migshaper/$LAB_HV1_IF" 2>/dev/null
	return 0
}

# _lab_veth NS_A IF_A NS_B IF_B
_lab_veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
}

# lab_nic_root NS IF TXQUEUES: the root qdisc a hypervisor's NIC has. A veth
# has none (noqueue, like a bond, VLAN or bridge, where migshaper's
# dataplane_backend = auto leaves the root alone); a NIC has the kernel's
# default, pfifo_fast, on one TX queue, and mq (one pfifo_fast per queue) on
# several. (Put on by hand, it has a handle, 8001:, where the kernel's own
# has 0:, so the agent saves and restores it as an admin's root; the
# kernel's default is restored on a tap or a veth's noqueue.)
lab_nic_root() {
	local root=pfifo_fast
	[ "$3" -gt 1 ] && root=mq
	ip netns exec "$1" tc qdisc replace dev "$2" root "$root"
}

_lab_if_up() {
	local ns=$1 dev=$2
	if [ "$LAB_OFFLOAD" = 0 ]; then
		ip netns exec "$ns" ethtool -K "$dev" gso off tso off gro off >/dev/null 2>&1 || true
	fi
	ip -n "$ns" link set "$dev" mtu "$LAB_MTU" up
	# A veth hands each packet to the backlog of the CPU that sent it; when
	# a sender moves between CPUs its packets overtake each other (measured:
	# ~300k SACK reorder events and ~40k spurious retransmits in 10 s of four
	# flows, which keeps cubic from ever filling the wire's FIFO). RPS over
	# all CPUs steers each flow by its hash to one CPU, as a NIC's RSS does.
	local q mask
	mask=$(printf '%x' $(((1 << $(nproc)) - 1)))
	for q in $(ip netns exec "$ns" sh -c "ls -d /sys/class/net/$dev/queues/rx-*" 2>/dev/null); do
		ip netns exec "$ns" sh -c "echo $mask > $q/rps_cpus" 2>/dev/null
	done
}

_lab_ns_sysctl() {
	local ns=$1
	# Only the initial namespace may pick a non-allowed default; the lab's
	# iperf3 runs pass -C "$LAB_TCP_CC" anyway (root may always set it).
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control="$LAB_TCP_CC" 2>/dev/null
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 || return 1
	ip -n "$ns" link set lo up
}

# lab_wire_set MBIT: (re)configures the wire's bottleneck.
lab_wire_set() {
	local mbit=$1
	if [ "$mbit" = 0 ]; then
		ip netns exec "$LAB_NS_WIRE" tc qdisc del dev "$LAB_WIRE_OUT" root 2>/dev/null
		return 0
	fi
	local bytes_per_s=$((mbit * 125000))
	# A 1 ms token bucket (never below 10 full-size packets) and a byte FIFO
	# of LAB_WIRE_QUEUE_PKTS full-size packets.
	local burst=$((bytes_per_s / 1000))
	[ "$burst" -lt 15140 ] && burst=15140
	local limit=$((LAB_WIRE_QUEUE_PKTS * 1514))
	ip netns exec "$LAB_NS_WIRE" tc qdisc replace dev "$LAB_WIRE_OUT" root handle 1: \
		tbf rate "${mbit}mbit" burst "$burst" limit "$limit"
}

# lab_hv1_uplink_recreate: deletes hv1's uplink veth and makes a new one of
# the same name, wired and addressed as lab_up does (a new ifindex). Its
# root stays a veth's noqueue: a running agent builds on the new device at
# once, and a pfifo_fast put on afterwards would replace that agent's tree.
# The agent keeps the backend it had (a re-created NIC gets its default
# root only once up).
lab_hv1_uplink_recreate() {
	ip -n "$LAB_NS_HV1" link del "$LAB_HV1_IF" || return 1
	_lab_veth "$LAB_NS_HV1" "$LAB_HV1_IF" "$LAB_NS_WIRE" "$LAB_WIRE_IN" || return 1
	ip -n "$LAB_NS_WIRE" link set "$LAB_WIRE_IN" master "$LAB_WIRE_BR" || return 1
	_lab_if_up "$LAB_NS_WIRE" "$LAB_WIRE_IN"
	_lab_if_up "$LAB_NS_HV1" "$LAB_HV1_IF"
	ip -n "$LAB_NS_HV1" addr add "$LAB_HV1_IP/24" dev "$LAB_HV1_IF" || return 1
	ip -n "$LAB_NS_HV1" addr add "$LAB_HV1_IP6/64" dev "$LAB_HV1_IF" nodad || return 1
}

# lab_reachable NS ADDR: true if ADDR answers from NS. No ping here: a TCP
# connect to the discard port, which nothing listens on, gets an RST back.
lab_reachable() {
	local out
	out=$(ip netns exec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/9" 2>&1)
	[[ "$out" == *"refused"* ]]
}

lab_up() {
	lab_check_prereqs || return $?
	lab_down
	local ns
	for ns in "${LAB_ALL_NS[@]}"; do
		ip netns add "$ns" || return 1
		_lab_ns_sysctl "$ns" || return 1
	done
	for ns in "$LAB_NS_WIRE" "$LAB_NS_SW"; do
		# Bridges only forward: no IPv6 chatter from them.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done

	if [ "$LAB_HV1_TXQUEUES" -gt 1 ]; then
		ip link add "$LAB_HV1_IF" netns "$LAB_NS_HV1" numtxqueues "$LAB_HV1_TXQUEUES" \
			numrxqueues "$LAB_HV1_TXQUEUES" type veth peer name "$LAB_WIRE_IN" \
			netns "$LAB_NS_WIRE" numtxqueues "$LAB_HV1_TXQUEUES" \
			numrxqueues "$LAB_HV1_TXQUEUES" || return 1
	else
		_lab_veth "$LAB_NS_HV1" "$LAB_HV1_IF" "$LAB_NS_WIRE" "$LAB_WIRE_IN" || return 1
	fi
	_lab_veth "$LAB_NS_WIRE" "$LAB_WIRE_OUT" "$LAB_NS_SW" "$LAB_SW_WIRE" || return 1
	_lab_veth "$LAB_NS_SW" "$LAB_SW_HV2" "$LAB_NS_HV2" "$LAB_HV2_IF" || return 1
	_lab_veth "$LAB_NS_SW" "$LAB_SW_MGR" "$LAB_NS_MGR" "$LAB_MGR_IF" || return 1

	ip -n "$LAB_NS_WIRE" link add "$LAB_WIRE_BR" type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$LAB_NS_SW" link add "$LAB_SW_BR" type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$LAB_NS_WIRE" link set "$LAB_WIRE_IN" master "$LAB_WIRE_BR"
	ip -n "$LAB_NS_WIRE" link set "$LAB_WIRE_OUT" master "$LAB_WIRE_BR"
	ip -n "$LAB_NS_SW" link set "$LAB_SW_WIRE" master "$LAB_SW_BR"
	ip -n "$LAB_NS_SW" link set "$LAB_SW_HV2" master "$LAB_SW_BR"
	ip -n "$LAB_NS_SW" link set "$LAB_SW_MGR" master "$LAB_SW_BR"

	_lab_if_up "$LAB_NS_HV1" "$LAB_HV1_IF"
	_lab_if_up "$LAB_NS_WIRE" "$LAB_WIRE_IN"
	_lab_if_up "$LAB_NS_WIRE" "$LAB_WIRE_OUT"
	_lab_if_up "$LAB_NS_SW" "$LAB_SW_WIRE"
	_lab_if_up "$LAB_NS_SW" "$LAB_SW_HV2"
	_lab_if_up "$LAB_NS_SW" "$LAB_SW_MGR"
	_lab_if_up "$LAB_NS_HV2" "$LAB_HV2_IF"
	_lab_if_up "$LAB_NS_MGR" "$LAB_MGR_IF"
	ip -n "$LAB_NS_WIRE" link set "$LAB_WIRE_BR" up
	ip -n "$LAB_NS_SW" link set "$LAB_SW_BR" up

	ip -n "$LAB_NS_HV1" addr add "$LAB_HV1_IP/24" dev "$LAB_HV1_IF"
	ip -n "$LAB_NS_HV2" addr add "$LAB_HV2_IP/24" dev "$LAB_HV2_IF"
	ip -n "$LAB_NS_MGR" addr add "$LAB_MGR_IP/24" dev "$LAB_MGR_IF"
	ip -n "$LAB_NS_HV1" addr add "$LAB_HV1_IP6/64" dev "$LAB_HV1_IF" nodad
	ip -n "$LAB_NS_HV2" addr add "$LAB_HV2_IP6/64" dev "$LAB_HV2_IF" nodad
	ip -n "$LAB_NS_MGR" addr add "$LAB_MGR_IP6/64" dev "$LAB_MGR_IF" nodad

	lab_wire_set "$LAB_WIRE_MBIT" || return 1
	lab_nic_root "$LAB_NS_HV1" "$LAB_HV1_IF" "$LAB_HV1_TXQUEUES" || return 1
	lab_nic_root "$LAB_NS_HV2" "$LAB_HV2_IF" 1 || return 1

	# Wait (bounded) until hv1 reaches hv2 and mgr on both families.
	local dst ok
	for dst in "$LAB_HV2_IP" "$LAB_MGR_IP" "$LAB_HV2_IP6" "$LAB_MGR_IP6"; do
		ok=0
		for _ in $(seq 1 50); do
			if lab_reachable "$LAB_NS_HV1" "$dst"; then
				ok=1
				break
			fi
			sleep 0.1
		done
		if [ $ok -ne 1 ]; then
			lab_log "hv1 cannot reach $dst"
			return 1
		fi
	done
	lab_log "up: wire ${LAB_WIRE_MBIT} Mbit/s, FIFO ${LAB_WIRE_QUEUE_PKTS} packets, offloads $([ "$LAB_OFFLOAD" = 0 ] && echo off || echo on), cc $LAB_TCP_CC"
	return 0
}

lab_status() {
	local ns
	for ns in "${LAB_ALL_NS[@]}"; do
		if lab_ns_exists "$ns"; then
			echo "== $ns"
			ip -n "$ns" -br addr
			ip netns exec "$ns" tc qdisc show | grep -v 'qdisc noqueue' || true
		else
			echo "== $ns: absent"
		fi
	done
}
