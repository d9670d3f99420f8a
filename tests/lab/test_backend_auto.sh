#!/usr/bin/env bash
# dataplane_backend = auto (the default) on the devices a hypervisor shapes.
# A NIC with one TX queue and a queue of its own (pfifo_fast, the lab's
# uplink): htb-root. A bond (16 TX queues, root noqueue, no ethtool
# channels; here a bridge with 16 TX queues over the uplink, carrying hv1's
# addresses as ovirtmgmt does): multiqueue, its noqueue root left alone, a
# migration-port flow shaped through the IFB's class and default traffic
# not, and nothing of it left after a stop. A VLAN stand-in (one TX queue,
# root noqueue): multiqueue too, as an HTB root would put every CPU's
# sends under one lock where there was none. No wire bottleneck: in
# multiqueue default traffic is not shaped by the agent.
. "$(dirname "$0")/lib.sh"

export LAB_WIRE_MBIT=0
t_setup need_agent

BOND=msbond0
VLAN=msvlan0
conf() { t_config "$1" migration_max_mbps=300 migration_min_mbps=50; }
backend_of() { sed -n 's/.*dataplane backend on [^:]*: \([a-z-]*\).*/\1/p' "$1" | head -n 1; }
root_of() { ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$1" | grep -v '^qdisc clsact'; }
conf "$T_TMP/agent.conf"
grep -q dataplane_backend "$T_TMP/agent.conf" && t_fail "the config sets dataplane_backend: not the default"

# 1. The lab's uplink: one TX queue (its channels), pfifo_fast.
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent-nic.log" || t_fail "agent did not get ready on the NIC"
[ "$(backend_of "$T_TMP/agent-nic.log")" = htb-root ] ||
	t_fail "auto on a one-queue NIC with pfifo_fast: $(grep 'dataplane backend' "$T_TMP/agent-nic.log")"
grep -q "$LAB_HV1_IF has 1 TX queue (its driver's channels)" "$T_TMP/agent-nic.log" ||
	t_fail "the agent did not say what it counted: $(grep 'TX queue' "$T_TMP/agent-nic.log")"
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC on SIGTERM"

# 2. A bond stand-in over the uplink, with hv1's addresses.
ip -n "$LAB_NS_HV1" link add "$BOND" numtxqueues 16 type bridge stp_state 0 forward_delay 0 &&
	ip -n "$LAB_NS_HV1" addr flush dev "$LAB_HV1_IF" scope global &&
	ip -n "$LAB_NS_HV1" link set "$LAB_HV1_IF" master "$BOND" &&
	ip -n "$LAB_NS_HV1" link set "$BOND" up &&
	ip -n "$LAB_NS_HV1" addr add "$LAB_HV1_IP/24" dev "$BOND" &&
	ip -n "$LAB_NS_HV1" addr add "$LAB_HV1_IP6/64" dev "$BOND" nodad || t_fail "bond stand-in $BOND"
t_wait_until 10 lab_reachable "$LAB_NS_HV1" "$LAB_HV2_IP" || t_fail "hv1 cannot reach hv2 over $BOND"
t_wait_until 10 lab_reachable "$LAB_NS_HV1" "$LAB_MGR_IP" || t_fail "hv1 cannot reach mgr over $BOND"
ip netns exec "$LAB_NS_HV1" ethtool -l "$BOND" >/dev/null 2>&1 && t_fail "$BOND reports channels: not a bond stand-in"
bond_root=$(root_of "$BOND")
echo "$bond_root" | grep -q '^qdisc noqueue 0: root' || t_fail "$BOND's root is not noqueue: $bond_root"

t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent-bond.log" --iface "$BOND" || t_fail "agent did not get ready on $BOND"
[ "$(backend_of "$T_TMP/agent-bond.log")" = multiqueue ] ||
	t_fail "auto on a 16-queue noqueue device: $(grep 'dataplane backend' "$T_TMP/agent-bond.log")"
grep -q "$BOND has no queue of its own" "$T_TMP/agent-bond.log" || t_fail "the agent did not say why"
IFB=$(t_mq_ifb "$BOND")
[ "$(root_of "$BOND")" = "$bond_root" ] || t_fail "$BOND's root changed: $(root_of "$BOND")"
ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$IFB" | grep -q '^qdisc htb 1: root' || t_fail "no HTB tree on $IFB"

t_mig_default_servers
mig0=$(t_class_bytes 21 "$IFB")
def0=$(t_class_bytes 30 "$IFB")
hb=$(t_mig_beside_default 4)
mig_sent=$(t_iperf_sent 0)
def_sent=$(t_iperf_sent default)
mig_bytes=$(($(t_class_bytes 21 "$IFB") - mig0))
def_htb=$(($(t_class_bytes 30 "$IFB") - def0))
t_log "over $BOND: migration flow sent $mig_sent B, class 1:21 $mig_bytes B, $(t_iperf_mbps 0) Mbit/s (cap 300); default flows sent $def_sent B ($(jq -r '.end.sum_received.bits_per_second / 1e6 | round' "$T_TMP/iperf-default.json") Mbit/s), $def_htb B through the tree"
{ [ "$mig_sent" -gt 0 ] && [ "$def_sent" -gt 0 ]; } || t_fail "a flow sent nothing"
t_num_le "$mig_sent" "$((mig_bytes * 105 / 100))" ||
	t_fail "the migration flow bypassed the HTB class: $mig_bytes B for $mig_sent B sent"
t_num_le "$(t_iperf_mbps 0)" 330 || t_fail "the migration flow was not held at its cap: $(t_iperf_mbps 0) Mbit/s"
[ "$def_htb" -lt $((def_sent / 100)) ] || t_fail "default traffic went through the HTB tree: $def_htb B of $def_sent B"
t_num_gt "$def_sent" "$((mig_sent * 2))" || t_fail "the default flows were held: $def_sent B against $mig_sent B"
[ "$(echo "$hb" | jq '.missed')" = 0 ] || t_fail "heartbeats missed: $hb"

t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent on $BOND exited with $T_STOP_RC on SIGTERM"
[ "$(ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$BOND")" = "$bond_root" ] ||
	t_fail "$BOND not as before after stop: $(ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$BOND")"
ip -n "$LAB_NS_HV1" link show dev "$IFB" >/dev/null 2>&1 && t_fail "$IFB left after stop"
lab_reachable "$LAB_NS_HV1" "$LAB_HV2_IP" || t_fail "hv2 unreachable over $BOND after stop"

# 3. A VLAN stand-in: one TX queue (a veth's channels say so), root noqueue.
ip -n "$LAB_NS_HV1" link add "$VLAN" numtxqueues 1 type veth peer name "$VLAN-p" &&
	ip -n "$LAB_NS_HV1" link set "$VLAN-p" up && ip -n "$LAB_NS_HV1" link set "$VLAN" up ||
	t_fail "VLAN stand-in $VLAN"
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent-vlan.log" --iface "$VLAN" || t_fail "agent did not get ready on $VLAN"
[ "$(backend_of "$T_TMP/agent-vlan.log")" = multiqueue ] ||
	t_fail "auto on a one-queue noqueue device: $(grep 'dataplane backend' "$T_TMP/agent-vlan.log")"
root_of "$VLAN" | grep -q '^qdisc noqueue 0: root' || t_fail "$VLAN's root changed: $(root_of "$VLAN")"
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent on $VLAN exited with $T_STOP_RC on SIGTERM"
t_log "PASS"
