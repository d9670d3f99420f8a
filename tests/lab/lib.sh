# shellcheck shell=bash
# Shared helpers for the lab tests (tests/lab/test_*.sh), the benchmarks
# (tests/bench/*.sh) and the demo. Source it, then call t_setup: it brings the
# lab up (exit 77 if it cannot run here) and removes everything on exit.
#
# Every wait is bounded and waits for an event (a log line, a listening
# socket, a process exit), polling at 0.1 s; fixed sleeps are used only to
# let traffic run for a measured interval.
set -u

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$T_ROOT" || exit 1
# shellcheck source=scripts/lab-lib.sh
. "$T_ROOT/scripts/lab-lib.sh"

BUILD=${BUILD:-build}
AGENT=${AGENT:-$T_ROOT/$BUILD/migshaperd}
HB=${HB:-$T_ROOT/$BUILD/tools/heartbeat}
T_NAME=$(basename "${0%.sh}")
T_TMP=
T_AGENT_PID=
T_BG_PIDS=()
T_MIG_PORT0=49152
T_MGMT_PORT=54321
# Logs of the agents t_agent_start started (scanned for sanitizer reports).
T_AGENT_LOGS=()
# A function t_cleanup runs after stopping the agent, before taking the lab down.
T_TEARDOWN=

# Sanitizers. A sanitizer-built agent or CLI (make build/san/migshaperd
# build/san/migshaperctl; AGENT=... CTL=...) must fail the test on any
# report, not just print it. t_setup sets, for every process the test starts
# (programs built without sanitizers ignore these):
#   ASan/LSan: detect_leaks=1 (leaks checked at exit), halt_on_error=1, exit
#     status T_SAN_RC, and log_path: each report goes to its own file
#     $T_TMP/sanitizer/asan.<pid>, whichever process wrote it (an agent whose
#     output a test captures, a refused second agent, the CLI);
#   UBSan: halt_on_error=1, exit status T_SAN_RC; its reports always go to
#     stderr (GCC 12's UBSan ignores log_path), i.e. to the agent's log.
#   LSan: no suppressions: a leak anywhere in the process fails the test.
# t_cleanup then fails the test if any such file is non-empty or a *.log in
# $T_TMP has an ASan, UBSan or LSan report line (exit T_SAN_RC), or if the
# agent it stops exits non-zero on SIGTERM (exit 1). Options already in the
# environment come first, so these win.
T_SAN_RC=86
T_SAN_DIR=
T_SAN_PATTERN='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)'
# t_is_san FILE: true if FILE is linked with AddressSanitizer.
t_is_san() { grep -qa __asan_init "$1" 2>/dev/null; }

t_log() { echo "[$T_NAME] $*"; }
# t_result KEY VALUE: a measurement a benchmark collects (tests/bench/*.sh run
# the lab test with T_RESULT set to a file): appended as "KEY VALUE" there.
t_result() {
	[ -z "${T_RESULT:-}" ] || echo "$1 $2" >>"$T_RESULT"
	t_log "result: $1 = $2"
}
# Two kinds of failure, told apart by the exit status, because
# scripts/run-tests.sh may run a test again after one kind only:
# t_fail MSG: a functional failure (a migration failed, a flow in the wrong
#   class, a crash, a wrong value): exit 1, never retried.
# t_fail_timing MSG: a timing sample out of bounds (a rate, a throughput, a
#   latency, a cap's accuracy measured over a few seconds) that load from
#   outside the test on a shared machine can spoil: exit T_TIMING_RC, which
#   run-tests.sh may retry. Use it for nothing else.
T_TIMING_RC=75
t_fail() {
	echo "[$T_NAME] FAIL: $*"
	exit 1
}
t_fail_timing() {
	echo "[$T_NAME] FAIL (timing sample, exit $T_TIMING_RC): $*"
	exit "$T_TIMING_RC"
}
t_skip() {
	echo "[$T_NAME] SKIP: $*"
	exit 77
}

t_cleanup() {
	local rc=$?
	local p
	if [ -n "$T_AGENT_PID" ]; then
		# An agent that fails its stop is a defect, whatever a timing sample said.
		if ! t_agent_stop "$T_AGENT_PID" && { [ $rc -eq 0 ] || [ $rc -eq $T_TIMING_RC ]; }; then
			echo "[$T_NAME] FAIL: the agent exited with status $T_STOP_RC on SIGTERM (at cleanup)"
			rc=1
		fi
	fi
	for p in "${T_BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	# What the test brought up beyond the lab (virtlib.sh: the libvirt
	# daemons) goes after the agent: taken down under a running agent, it
	# would fill the tail of the agent's log, printed below on failure, with
	# the teardown (e.g. "Connection reset by peer") instead of the test.
	[ -n "${T_TEARDOWN:-}" ] && "$T_TEARDOWN"
	lab_down
	# A sanitizer report decides the exit status even when the test already
	# failed (an agent halted by ASan makes the test fail first): T_SAN_RC
	# tells scripts/run-tests.sh not to retry it as a timing accident.
	if ! t_san_verdict; then
		echo "[$T_NAME] FAIL: sanitizer report(s), see above (exit $T_SAN_RC)"
		rc=$T_SAN_RC
	fi
	if [ -n "$T_TMP" ] && [ -d "$T_TMP" ]; then
		if [ $rc -ne 0 ] && [ -n "$(ls "$T_TMP"/*.log 2>/dev/null)" ]; then
			local f
			for f in "$T_TMP"/*.log; do
				echo "--- $(basename "$f") (last 30 lines)"
				tail -n 30 "$f"
			done
		fi
		# An agent that died (a sanitizer halt, SIGKILL) leaves its knob
		# tree mounted, a dead FUSE mount that rm cannot remove.
		for p in $(awk -v d="$T_TMP/" 'index($2, d) == 1 { print $2 }' /proc/mounts); do
			umount -l "$p" 2>/dev/null
		done
		rm -rf "$T_TMP"
	fi
	exit $rc
}

# t_setup [need_agent]: checks prerequisites (77 if missing), brings the lab up.
t_setup() {
	lab_check_prereqs || t_skip "the lab cannot run here (see above)"
	[ -x "$HB" ] || t_skip "$HB is not built (make $BUILD/tools/heartbeat)"
	if [ "${1:-}" = need_agent ] && [ ! -x "$AGENT" ]; then
		t_skip "$AGENT is not built (make)"
	fi
	T_TMP=$(mktemp -d /tmp/ms-lab-test.XXXXXX)
	t_san_env
	trap t_cleanup EXIT
	trap 'exit 1' INT TERM
	lab_up || t_fail "lab up failed"
}

# t_san_env: the sanitizer options (see T_SAN_RC above), reports under $T_TMP.
t_san_env() {
	T_SAN_DIR=$T_TMP/sanitizer
	mkdir -p "$T_SAN_DIR"
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=$T_SAN_RC:log_path=$T_SAN_DIR/asan"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1:exitcode=$T_SAN_RC"
	local b
	for b in "$AGENT" "${CTL:-}"; do
		t_is_san "$b" && t_log "note: $b is sanitizer-built: any ASan/UBSan/LSan report fails this test"
	done
	return 0
}

# t_san_text TEXT WHAT: fails the test if TEXT (an agent's captured output)
# holds a sanitizer report.
t_san_text() {
	if grep -Eq -- "$T_SAN_PATTERN" <<<"$1"; then
		echo "$1"
		echo "[$T_NAME] FAIL: $2: sanitizer report in the output above"
		exit "$T_SAN_RC"
	fi
}

# t_san_verdict: 1 (and prints them) if there are sanitizer reports: files
# under $T_SAN_DIR or report lines in the agents' logs and any $T_TMP/*.log.
t_san_verdict() {
	local f bad=0
	local -A seen=()
	[ -n "$T_SAN_DIR" ] && [ -d "$T_SAN_DIR" ] || return 0
	for f in "$T_SAN_DIR"/*; do
		[ -s "$f" ] || continue
		echo "--- sanitizer report $(basename "$f")"
		cat "$f"
		bad=1
	done
	for f in "${T_AGENT_LOGS[@]}" "$T_TMP"/*.log; do
		[ -f "$f" ] && [ -z "${seen[$f]:-}" ] || continue
		seen[$f]=1
		if grep -Eq -- "$T_SAN_PATTERN" "$f"; then
			echo "--- sanitizer report in $(basename "$f")"
			# The report and the lines before it (what the agent was doing).
			grep -E -B 5 -A 40 -- "$T_SAN_PATTERN" "$f"
			bad=1
		fi
	done
	[ $bad -eq 0 ]
}

# t_wait_until TIMEOUT_S CMD...: polls CMD until it succeeds; 1 on timeout.
t_wait_until() {
	local timeout=$1 i
	shift
	for ((i = 0; i < timeout * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

_t_listening() { [ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null)" ]; }
# t_wait_listen NS PORT [TIMEOUT_S]
t_wait_listen() { t_wait_until "${3:-10}" _t_listening "$1" "$2"; }

_t_log_has() { grep -q -- "$2" "$1" 2>/dev/null; }
# t_wait_log FILE PATTERN [TIMEOUT_S]
t_wait_log() { t_wait_until "${3:-10}" _t_log_has "$1" "$2"; }

# A child that exited stays a zombie (kill -0 still succeeds) until waited for.
_t_gone() {
	! kill -0 "$1" 2>/dev/null && return 0
	[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
# t_wait_exit PID [TIMEOUT_S]: 0 once PID has exited (then `wait PID` for its status).
t_wait_exit() { t_wait_until "${2:-10}" _t_gone "$1"; }

# t_bg NS OUT CMD...: runs CMD in NS in the background, stdout+stderr to OUT.
# The pid (the command itself: ip netns exec execs it) is in T_LAST_PID.
t_bg() {
	local ns=$1 out=$2
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 &
	T_LAST_PID=$!
	T_BG_PIDS+=("$T_LAST_PID")
}

# t_iperf_servers N: one iperf3 server per migration port on hv2.
t_iperf_servers() {
	local i port
	for ((i = 0; i < $1; i++)); do
		port=$((T_MIG_PORT0 + i))
		t_bg "$LAB_NS_HV2" "$T_TMP/iperf-server-$port.out" iperf3 -s -p "$port"
	done
	for ((i = 0; i < $1; i++)); do
		t_wait_listen "$LAB_NS_HV2" $((T_MIG_PORT0 + i)) || t_fail "iperf3 server not listening"
	done
}

# t_iperf_start I SECONDS: migration flow I (port 49152+I) from hv1 to hv2,
# JSON in $T_TMP/iperf-I.json. Pid in T_LAST_PID.
t_iperf_start() {
	local port=$((T_MIG_PORT0 + $1))
	ip netns exec "$LAB_NS_HV1" timeout $(($2 + 15)) iperf3 -c "$LAB_HV2_IP" -p "$port" \
		-t "$2" -C "$LAB_TCP_CC" --json >"$T_TMP/iperf-$1.json" 2>"$T_TMP/iperf-$1.err" &
	T_LAST_PID=$!
	T_BG_PIDS+=("$T_LAST_PID")
}

# t_iperf_wait PID...: waits for iperf3 clients (bounded by their timeout).
t_iperf_wait() {
	local p
	for p in "$@"; do wait "$p" 2>/dev/null; done
}

# t_iperf_mbps I: goodput of flow I as the receiver measured it.
t_iperf_mbps() {
	jq -r '(.end.sum_received.bits_per_second // 0) / 1e6' "$T_TMP/iperf-$1.json" 2>/dev/null || echo 0
}

# t_tap NS NAME: a tap in NS that has carrier, as a guest's does while QEMU
# holds it: created persistent, then held open by a background process (in
# T_LAST_PID and T_BG_PIDS; killing it drops the carrier). A tap nobody holds
# has no carrier, and the agent trusts no speed on such a link.
t_tap() {
	ip -n "$1" tuntap add dev "$2" mode tap || return 1
	ip netns exec "$1" python3 -c '
import fcntl, os, signal, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000))
print("held", flush=True)
signal.pause()' "$2" >"$T_TMP/tap-$2.out" 2>&1 &
	T_LAST_PID=$!
	T_BG_PIDS+=("$T_LAST_PID")
	t_wait_until 5 grep -q held "$T_TMP/tap-$2.out"
}

t_hb_server() {
	t_bg "$LAB_NS_HV1" "$T_TMP/heartbeat-server.out" "$HB" server --listen "$LAB_HV1_IP" --port "$T_MGMT_PORT"
	t_wait_listen "$LAB_NS_HV1" "$T_MGMT_PORT" || t_fail "heartbeat server not listening"
}

# t_mig_default_servers: on hv2 iperf3 servers for migration flow 0 and for
# default-class traffic (port 5201); on hv1 the heartbeat server.
t_mig_default_servers() {
	t_iperf_servers 1
	t_bg "$LAB_NS_HV2" "$T_TMP/iperf-server-5201.out" iperf3 -s -p 5201
	t_wait_listen "$LAB_NS_HV2" 5201 || t_fail "iperf3 server 5201 not listening"
	t_hb_server
}

# t_mig_beside_default SECONDS: migration flow 0 and 4 default-class flows
# (port 5201) from hv1 to hv2 at once, heartbeats meanwhile; prints the
# heartbeat JSON. The flows' JSON: $T_TMP/iperf-0.json, iperf-default.json.
t_mig_beside_default() {
	local mig_pid def_pid hb
	t_iperf_start 0 "$1"
	mig_pid=$T_LAST_PID
	ip netns exec "$LAB_NS_HV1" timeout $(($1 + 16)) iperf3 -c "$LAB_HV2_IP" -p 5201 -t "$1" \
		-P 4 -C "$LAB_TCP_CC" --json >"$T_TMP/iperf-default.json" 2>"$T_TMP/iperf-default.err" &
	def_pid=$!
	hb=$(t_hb_run "$1")
	t_iperf_wait "$mig_pid" "$def_pid"
	echo "$hb"
}

# t_iperf_sent NAME: bytes iperf3 client NAME ($T_TMP/iperf-NAME.json) sent.
t_iperf_sent() { jq -r '.end.sum_sent.bytes // 0' "$T_TMP/iperf-$1.json"; }

# t_hb_run SECONDS: heartbeat from mgr to hv1 (10/s, 1 s timeout); prints its JSON.
t_hb_run() {
	ip netns exec "$LAB_NS_MGR" timeout $(($1 + 10)) "$HB" client --connect "$LAB_HV1_IP" \
		--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$1" --json
}

# t_config FILE [key=value...]: writes an agent config for the lab's uplink
# (1000 Mbit wire); arguments override the defaults.
t_config() {
	local file=$1 kv key
	shift
	declare -A cfg=(
		[link_mbps]=950
		[mgmt_reserve_mbps]=100
		[migration_aggregate_mbps]=800
		[migration_max_mbps]=800
		[migration_min_mbps]=50
		[mgmt_cidrs]="$LAB_MGR_IP/32,$LAB_MGR_IP6/128"
		[mgmt_ports]="22,16509,$T_MGMT_PORT"
		[migration_ports]=49152-49215
		[dscp_marking]=0
		[log_level]=info
	)
	for kv in "$@"; do
		cfg[${kv%%=*}]=${kv#*=}
	done
	{
		echo "# migshaper lab test config"
		echo "[global]"
		for key in link_mbps mgmt_reserve_mbps migration_aggregate_mbps migration_max_mbps \
			migration_min_mbps mgmt_cidrs mgmt_ports migration_ports dscp_marking log_level; do
			echo "$key = ${cfg[$key]}"
		done
	} >"$file"
}

# t_hv1 CMD...: runs CMD in hv1's network namespace but in the host's mount
# namespace. The agent must run this way: `ip netns exec` remounts /sys for
# the namespace, which hides the bpf file system at /sys/fs/bpf (the agent
# then refuses: "/sys/fs/bpf is not on a bpf file system"), and a bpffs
# mounted inside would be a private instance whose pins nobody else sees.
# Background it with "${T_HV1[@]}" CMD &, not through the function, so that
# $! is CMD itself and not a subshell.
T_HV1=(nsenter --net="/run/netns/$LAB_NS_HV1" --)
t_hv1() { "${T_HV1[@]}" "$@"; }

# t_agent_start CONFIG LOG [args...]: starts the agent in hv1 on its uplink and
# waits for "ready". Pid in T_AGENT_PID (and T_LAST_PID). 1 if it never got ready.
t_agent_start() {
	local config=$1 log=$2
	shift 2
	mkdir -p "$T_TMP/run"
	"${T_HV1[@]}" "$AGENT" --iface "$LAB_HV1_IF" --config "$config" \
		--run-dir "$T_TMP/run" "$@" >"$log" 2>&1 &
	T_LAST_PID=$!
	T_AGENT_PID=$T_LAST_PID
	T_AGENT_LOGS+=("$log")
	local i
	for ((i = 0; i < 150; i++)); do
		grep -q 'ready' "$log" 2>/dev/null && return 0
		_t_gone "$T_LAST_PID" && return 1
		sleep 0.1
	done
	return 1
}

# t_start_fails_takeover CONFIG LOG: starts an agent (CONFIG plus the
# ingress backstop) that must fail while taking over what a killed one left:
# the backstop's IFB name (msi<ifindex>) is another device's. Fails the test
# unless it exits non-zero for that reason; the blocking device goes after.
t_start_fails_takeover() {
	local conf=$1 log=$2 blocker
	blocker=msi$(ip -n "$LAB_NS_HV1" -j link show dev "$LAB_HV1_IF" | jq '.[0].ifindex')
	ip -n "$LAB_NS_HV1" link add "$blocker" type veth peer name "$blocker-p" || t_fail "blocker $blocker"
	echo "ingress_backstop = 1" >>"$conf"
	t_agent_start "$conf" "$log" &&
		t_fail "an agent started although the ingress IFB's name $blocker is taken"
	t_exit_status "$T_AGENT_PID" 10
	T_AGENT_PID=
	[ "$T_STOP_RC" -ne 0 ] && [ "$T_STOP_RC" -ne 124 ] || t_fail "the failed start exited with $T_STOP_RC"
	grep -q "$blocker exists and is not an IFB" "$log" ||
		t_fail "the start did not fail on the ingress IFB's name"
	ip -n "$LAB_NS_HV1" link del "$blocker"
}

# t_agent_stop PID: SIGTERM, waits up to 10 s (then SIGKILL); the exit status
# is in T_STOP_RC (137 = had to be killed). Call it in this shell, not in $(...).
t_agent_stop() {
	local pid=$1
	[ "$pid" = "$T_AGENT_PID" ] && T_AGENT_PID=
	kill -TERM "$pid" 2>/dev/null
	if ! t_wait_exit "$pid" 10; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		T_STOP_RC=137
		return 137
	fi
	wait "$pid" 2>/dev/null
	T_STOP_RC=$?
	return $T_STOP_RC
}

# t_exit_status PID [TIMEOUT_S]: waits for PID to exit by itself; status in
# T_STOP_RC, 124 if it was still running at the timeout (it is then killed).
t_exit_status() {
	if ! t_wait_exit "$1" "${2:-10}"; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		T_STOP_RC=124
		return 124
	fi
	wait "$1" 2>/dev/null
	T_STOP_RC=$?
	return $T_STOP_RC
}

# t_rx_bytes NS DEV / t_tx_bytes NS DEV
# t_tc_watch_start FILE: `tc monitor` of hv1 into FILE, returning once it
# reports (it prints no "ready" line: lo's qdisc is changed until it shows).
# t_tc_watch_stop: ends the window with one more change on lo, waits until
# the monitor has it, and stops it; FILE then holds every tc change of the
# window, the markers on lo included.
t_tc_watch_start() {
	T_TC_WATCH=$1
	ip netns exec "$LAB_NS_HV1" tc monitor >"$T_TC_WATCH" 2>&1 &
	T_TC_WATCH_PID=$!
	T_BG_PIDS+=("$T_TC_WATCH_PID")
	t_wait_until 5 _t_tc_watch_probe || t_fail "tc monitor did not start"
}
_t_tc_watch_probe() {
	ip netns exec "$LAB_NS_HV1" tc qdisc replace dev lo root handle 9: tbf rate 1gbit burst 100k latency 10ms
	grep -q 'dev lo' "$T_TC_WATCH"
}
_t_tc_watch_marker() { grep -q '^deleted qdisc tbf 9: dev lo' "$T_TC_WATCH"; }
t_tc_watch_stop() {
	ip netns exec "$LAB_NS_HV1" tc qdisc del dev lo root
	t_wait_until 5 _t_tc_watch_marker || t_fail "tc monitor missed the end marker"
	kill "$T_TC_WATCH_PID" 2>/dev/null
}

t_rx_bytes() { ip -n "$1" -s -j link show dev "$2" | jq '.[0].stats64.rx.bytes'; }
t_tx_bytes() { ip -n "$1" -s -j link show dev "$2" | jq '.[0].stats64.tx.bytes'; }
t_now_ns() { date +%s%N; }

# t_wire_bytes: bytes the wire carried from hv1 towards the switch, as its
# TBF counts them: Ethernet frames without FCS, every TSO segment with its own
# headers (qdisc_pkt_len), i.e. exactly the unit HTB shapes in. (A veth's
# rx_bytes would count a 64 KiB TSO packet's headers once and read ~4.5% low.)
t_wire_bytes() {
	ip netns exec "$LAB_NS_WIRE" tc -s -j qdisc show dev "$LAB_WIRE_OUT" | jq '.[0].bytes'
}

# t_l2_mbps SECONDS: the wire's L2 rate from hv1 over SECONDS, as Mbit/s. All
# of hv1's migration traffic crosses it (and nothing else while a test runs).
t_l2_mbps() {
	local b0 b1 t0 t1
	t0=$(t_now_ns)
	b0=$(t_wire_bytes)
	sleep "$1"
	t1=$(t_now_ns)
	b1=$(t_wire_bytes)
	awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.2f", b * 8 * 1000 / t }'
}

# t_mq_ifb [DEV]: the name of the multiqueue backend's IFB for hv1's DEV
# (its uplink by default): msq<ifindex>, as tc/mq.h names it.
t_mq_ifb() { echo "msq$(ip -n "$LAB_NS_HV1" -j link show dev "${1:-$LAB_HV1_IF}" | jq '.[0].ifindex')"; }

# t_class_bytes MINOR_HEX [DEV]: bytes sent by HTB class 1:MINOR on hv1's
# DEV (its uplink by default; the multiqueue backend's IFB), 0 if absent.
# (Debian 12's tc prints classes as text even with -j.)
t_class_bytes() {
	ip netns exec "$LAB_NS_HV1" tc -s class show dev "${2:-$LAB_HV1_IF}" 2>/dev/null |
		awk -v h="1:$1" '$1 == "class" { cur = $3 } $1 == "Sent" && cur == h { print $2; found = 1; exit }
			END { if (!found) print 0 }'
}
t_class_exists() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" 2>/dev/null | grep -q "htb 1:$1 "
}

# t_pct_err ACHIEVED CAP: signed error in percent.
t_pct_err() { awk -v a="$1" -v c="$2" 'BEGIN { printf "%.2f", (a - c) * 100 / c }'; }
# t_within ACHIEVED CAP PCT: true if |error| <= PCT.
t_within() { awk -v a="$1" -v c="$2" -v p="$3" 'BEGIN { e = (a - c) * 100 / c; if (e < 0) e = -e; exit !(e <= p) }'; }
t_num_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
t_num_gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
# t_log_count LOG TEXT: how many messages holding TEXT the agent logged,
# with those its rate limit held back: a "log: suppressed K more messages
# like: ..." line counts K (the last second's are written at exit).
t_log_count() {
	awk -v m="$2" 'index($0, m) {
			if (match($0, /log: suppressed [0-9]+ more message/)) { split(substr($0, RSTART), w, " "); n += w[3] }
			else n++ }
		END { print n + 0 }' "$1"
}

# t_qdisc_state: hv1 uplink's qdiscs without counters (for before/after).
t_qdisc_state() { ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$LAB_HV1_IF"; }
t_filter_state() { ip netns exec "$LAB_NS_HV1" tc filter show dev "$LAB_HV1_IF" egress 2>/dev/null; }
t_pins_left() { [ -e "$MS_PIN_DIR" ] && [ -n "$(ls -A "$MS_PIN_DIR" 2>/dev/null)" ]; }
MS_PIN_DIR=/sys/fs/bpf/migshaper/$LAB_HV1_IF

# t_mig_scenario SECONDS NFLOWS: heartbeat during NFLOWS saturating migration
# flows; prints the heartbeat JSON with the flows' total goodput added as
# "mig_mbps". Needs t_iperf_servers NFLOWS and t_hb_server first.
t_mig_scenario() {
	local secs=$1 n=$2 i pids=() hb total
	for ((i = 0; i < n; i++)); do
		t_iperf_start "$i" $((secs + 3))
		pids+=("$T_LAST_PID")
	done
	# Let the flows leave slow start and fill the queue before measuring.
	sleep 2
	hb=$(t_hb_run "$secs")
	t_iperf_wait "${pids[@]}"
	total=0
	for ((i = 0; i < n; i++)); do
		total=$(awk -v a="$total" -v b="$(t_iperf_mbps "$i")" 'BEGIN { printf "%.1f", a + b }')
	done
	[ -n "$hb" ] || hb='{}'
	echo "$hb" | jq -c --argjson m "$total" '. + {mig_mbps: $m}'
}

# --- Three hosts: two sources, one destination (issue 14) ------------------
# t3_up adds to the lab (after t_setup) a second source hypervisor hv3 with
# its own wire, a copy of hv1's:
#   ms-hv3 ms-hv3-up 198.18.0.4 / fd00::4 --veth-- ms-w3 (bridge; TBF
#   LAB_WIRE_MBIT, FIFO LAB_WIRE_QUEUE_PKTS on ms-w3-sw) --veth-- ms-sw
# and makes the destination's downlink the bottleneck: a TBF of T3_DEST_MBIT
# (default 500, below either source's wire) with the same FIFO on the
# switch's port towards hv2 (ms-sw-hv2). Everything hv1 or hv3 sends to hv2
# and the manager's requests to hv2 queue there, as on the switch port of a
# destination that several hosts evacuate onto. hv2's own uplink stays
# unshaped. lab_down removes the new namespaces with the others.
T3_DEST_MBIT=${T3_DEST_MBIT:-500}
LAB_NS_HV3=$LAB_PREFIX-hv3
LAB_NS_WIRE3=$LAB_PREFIX-w3
LAB_HV3_IF=$LAB_PREFIX-hv3-up
LAB_WIRE3_IN=$LAB_PREFIX-w3-hv3
LAB_WIRE3_OUT=$LAB_PREFIX-w3-sw
LAB_WIRE3_BR=$LAB_PREFIX-w3-br
LAB_SW_WIRE3=$LAB_PREFIX-sw-w3
LAB_HV3_IP=198.18.0.4
LAB_HV3_IP6=fd00::4

# _t3_tbf NS DEV MBIT: a TBF as lab_wire_set makes it (1 ms bucket, FIFO of
# LAB_WIRE_QUEUE_PKTS full-size packets).
_t3_tbf() {
	local bytes_per_s=$(($3 * 125000)) burst
	burst=$((bytes_per_s / 1000))
	[ "$burst" -lt 15140 ] && burst=15140
	ip netns exec "$1" tc qdisc replace dev "$2" root handle 1: \
		tbf rate "${3}mbit" burst "$burst" limit $((LAB_WIRE_QUEUE_PKTS * 1514))
}

t3_up() {
	local ns
	LAB_ALL_NS+=("$LAB_NS_HV3" "$LAB_NS_WIRE3")
	for ns in "$LAB_NS_HV3" "$LAB_NS_WIRE3"; do
		ip netns add "$ns" || return 1
		_lab_ns_sysctl "$ns" || return 1
	done
	ip netns exec "$LAB_NS_WIRE3" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	_lab_veth "$LAB_NS_HV3" "$LAB_HV3_IF" "$LAB_NS_WIRE3" "$LAB_WIRE3_IN" || return 1
	_lab_veth "$LAB_NS_WIRE3" "$LAB_WIRE3_OUT" "$LAB_NS_SW" "$LAB_SW_WIRE3" || return 1
	ip -n "$LAB_NS_WIRE3" link add "$LAB_WIRE3_BR" type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$LAB_NS_WIRE3" link set "$LAB_WIRE3_IN" master "$LAB_WIRE3_BR"
	ip -n "$LAB_NS_WIRE3" link set "$LAB_WIRE3_OUT" master "$LAB_WIRE3_BR"
	ip -n "$LAB_NS_SW" link set "$LAB_SW_WIRE3" master "$LAB_SW_BR"
	_lab_if_up "$LAB_NS_HV3" "$LAB_HV3_IF"
	_lab_if_up "$LAB_NS_WIRE3" "$LAB_WIRE3_IN"
	_lab_if_up "$LAB_NS_WIRE3" "$LAB_WIRE3_OUT"
	_lab_if_up "$LAB_NS_SW" "$LAB_SW_WIRE3"
	ip -n "$LAB_NS_WIRE3" link set "$LAB_WIRE3_BR" up
	ip -n "$LAB_NS_HV3" addr add "$LAB_HV3_IP/24" dev "$LAB_HV3_IF"
	ip -n "$LAB_NS_HV3" addr add "$LAB_HV3_IP6/64" dev "$LAB_HV3_IF" nodad
	lab_nic_root "$LAB_NS_HV3" "$LAB_HV3_IF" 1 || return 1
	_t3_tbf "$LAB_NS_WIRE3" "$LAB_WIRE3_OUT" "$LAB_WIRE_MBIT" || return 1
	_t3_tbf "$LAB_NS_SW" "$LAB_SW_HV2" "$T3_DEST_MBIT" || return 1
	t_wait_until 5 lab_reachable "$LAB_NS_HV3" "$LAB_HV2_IP" || return 1
	t_wait_until 5 lab_reachable "$LAB_NS_HV3" "$LAB_MGR_IP" || return 1
	t_log "three hosts: hv1 and hv3 -> hv2, destination downlink $T3_DEST_MBIT Mbit/s"
}

# t3_dest_queue: packets and bytes now queued on the destination's downlink,
# "drops backlog_bytes" cumulative drops first.
t3_dest_queue() {
	ip netns exec "$LAB_NS_SW" tc -s -j qdisc show dev "$LAB_SW_HV2" |
		jq -r '.[0] | "\(.drops) \(.backlog)"'
}

# t3_agent_start NS IF CONFIG LOG [args...]: an agent on another host of the
# lab (hv2 or hv3), as t_agent_start does on hv1; its pid in T_LAST_PID and
# T_BG_PIDS (stopped with t_agent_stop). 1 if it never got ready.
t3_agent_start() {
	local ns=$1 ifname=$2 config=$3 log=$4 i
	shift 4
	mkdir -p "$T_TMP/run-$ns"
	nsenter --net="/run/netns/$ns" -- "$AGENT" --iface "$ifname" --config "$config" \
		--run-dir "$T_TMP/run-$ns" "$@" >"$log" 2>&1 &
	T_LAST_PID=$!
	T_BG_PIDS+=("$T_LAST_PID")
	T_AGENT_LOGS+=("$log")
	for ((i = 0; i < 150; i++)); do
		grep -q 'ready' "$log" 2>/dev/null && return 0
		_t_gone "$T_LAST_PID" && return 1
		sleep 0.1
	done
	return 1
}

# t3_pins_remove: the pins agents on hv2 and hv3 may leave (keyed by ifname).
t3_pins_remove() {
	rm -rf "/sys/fs/bpf/migshaper/$LAB_HV2_IF" "/sys/fs/bpf/migshaper/$LAB_HV3_IF" 2>/dev/null
	return 0
}

# t3_hb_server: heartbeat server on hv2 (the destination).
t3_hb_server() {
	t_bg "$LAB_NS_HV2" "$T_TMP/heartbeat-server-hv2.out" "$HB" server --listen "$LAB_HV2_IP" \
		--port "$T_MGMT_PORT"
	t_wait_listen "$LAB_NS_HV2" "$T_MGMT_PORT" || t_fail "heartbeat server on hv2 not listening"
}

# t3_hb_run SECONDS [TRACE]: heartbeat from mgr to hv2 (10/s, 1 s timeout); prints its JSON.
t3_hb_run() {
	ip netns exec "$LAB_NS_MGR" timeout $(($1 + 10)) "$HB" client --connect "$LAB_HV2_IP" \
		--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$1" --json \
		${2:+--trace "$2"}
}

# t3_queue_loop INTERVAL_S: every INTERVAL_S "backlog_bytes drops" of the
# destination's downlink until killed or the lab is gone.
t3_queue_loop() {
	while [ -e "/run/netns/$LAB_NS_SW" ]; do
		ip netns exec "$LAB_NS_SW" tc -s -j qdisc show dev "$LAB_SW_HV2" 2>/dev/null |
			jq -r '.[0] | "\(.backlog) \(.drops)"'
		sleep "$1"
	done
}

# t3_flood_scenario SECONDS NFLOWS: NFLOWS cubic TCP flows from hv3 (no
# agent there) to hv2's migration ports 49152.. (iperf3 servers already
# listening there), the manager's heartbeat to hv2 during SECONDS once they
# have filled the queue. Prints the heartbeat JSON plus "mig_mbps" (goodput
# the receivers measured), "queue_kb_mean"/"queue_kb_max" (backlog of the
# destination's downlink FIFO, sampled every 0.1 s) and "queue_drops".
t3_flood_scenario() {
	local secs=$1 n=$2 i pids=() hb total ql q d0 d1 stats
	for ((i = 0; i < n; i++)); do
		ip netns exec "$LAB_NS_HV3" timeout $((secs + 18)) iperf3 -c "$LAB_HV2_IP" \
			-p $((T_MIG_PORT0 + i)) -t $((secs + 3)) -C "$LAB_TCP_CC" --json \
			>"$T_TMP/iperf-$i.json" 2>"$T_TMP/iperf-$i.err" &
		pids+=("$!")
		T_BG_PIDS+=("$!")
	done
	sleep 2
	d0=$(t3_dest_queue | cut -d' ' -f1)
	t3_queue_loop 0.1 >"$T_TMP/queue.samples" 2>/dev/null &
	ql=$!
	T_BG_PIDS+=("$ql")
	hb=$(t3_hb_run "$secs")
	kill "$ql" 2>/dev/null
	wait "$ql" 2>/dev/null
	d1=$(t3_dest_queue | cut -d' ' -f1)
	t_iperf_wait "${pids[@]}"
	total=0
	for ((i = 0; i < n; i++)); do
		total=$(awk -v a="$total" -v b="$(t_iperf_mbps "$i")" 'BEGIN { printf "%.1f", a + b }')
	done
	q=$(awk '{ s += $1; if ($1 > m) m = $1; n++ }
		END { printf "%.1f %.1f", n ? s / n / 1024 : 0, m / 1024 }' "$T_TMP/queue.samples")
	[ -n "$hb" ] || hb='{}'
	stats=$(jq -nc --argjson m "$total" --argjson qm "${q% *}" --argjson qx "${q#* }" \
		--argjson dr $((d1 - d0)) '{mig_mbps: $m, queue_kb_mean: $qm, queue_kb_max: $qx, queue_drops: $dr}')
	echo "$hb" | jq -c --argjson s "$stats" '. + $s'
}
