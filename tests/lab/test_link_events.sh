#!/usr/bin/env bash
# The shaped interface goes down for 2 s and comes back; then it is deleted
# and re-created under the same name. Down and up leave the tree, the filter
# and the classes in place (the kernel keeps them); after the re-creation the
# agent installs everything again on the new ifindex without a restart.
# After each, migration traffic lands in its class and management
# heartbeats go through with 0 misses.
. "$(dirname "$0")/lib.sh"

t_setup need_agent
t_config "$T_TMP/agent.conf"
log="$T_TMP/agent.log"
state="$T_TMP/run/$LAB_HV1_IF.state"
tc_hv1() { ip netns exec "$LAB_NS_HV1" tc "$@"; }
tree() { tc_hv1 qdisc show dev "$LAB_HV1_IF" | grep '^qdisc htb 1: root' && tc_hv1 class show dev "$LAB_HV1_IF" | sort; }

t_agent_start "$T_TMP/agent.conf" "$log" || t_fail "agent did not get ready"
t_iperf_servers 1
t_hb_server

# shaping_works WHAT: migration traffic counts in class 1:21 (unattributed,
# no libvirt here) and 3 s of heartbeats meanwhile miss none.
shaping_works() {
	local b0 b1 hb
	b0=$(t_class_bytes 21)
	t_iperf_start 0 3
	hb=$(t_hb_run 3)
	t_iperf_wait "$T_LAST_PID"
	b1=$(t_class_bytes 21)
	t_log "$1: class 1:21 $b0 -> $b1 bytes; heartbeat $hb"
	t_num_gt "$b1" "$((${b0:-0} + 1000000))" || t_fail "$1: migration traffic is not in its class"
	[ "$(echo "$hb" | jq .missed)" = 0 ] || t_fail "$1: heartbeats missed"
}
shaping_works "start"

# 1. down for 2 s, then up
before=$(tree)
ifindex0=$(ip -n "$LAB_NS_HV1" -j link show "$LAB_HV1_IF" | jq '.[0].ifindex')
ip -n "$LAB_NS_HV1" link set "$LAB_HV1_IF" down || t_fail "link down"
t_wait_log "$log" "is down; its tree stays in place" 5 || t_fail "the agent did not see the link go down"
sleep 2 # the outage itself
ip -n "$LAB_NS_HV1" link set "$LAB_HV1_IF" up || t_fail "link up"
t_wait_log "$log" "$LAB_HV1_IF is up" 5 || t_fail "the agent did not see the link come back"
[ "$(tree)" = "$before" ] || t_fail "the tree changed across down/up"
[ -n "$(t_filter_state)" ] || t_fail "the filter is gone after down/up"
# The link needs a moment to carry traffic again: wait until hv2 answers.
_hv2_reachable() { lab_reachable "$LAB_NS_HV1" "$LAB_HV2_IP"; }
t_wait_until 10 _hv2_reachable || t_fail "hv2 unreachable after the link came back"
shaping_works "after down/up"

# 2. deleted and re-created
t0=$(t_now_ns)
lab_hv1_uplink_recreate || t_fail "cannot re-create $LAB_HV1_IF"
t_wait_log "$log" "is back (ifindex" 10 || t_fail "the agent did not shape the re-created interface"
t1=$(t_now_ns)
ifindex1=$(ip -n "$LAB_NS_HV1" -j link show "$LAB_HV1_IF" | jq '.[0].ifindex')
[ "$ifindex1" != "$ifindex0" ] || t_fail "the interface kept its ifindex: not a re-creation"
grep -q "disappeared" "$log" || t_fail "the deletion was not logged"
[ "$(tree)" = "$before" ] || t_fail "the tree on the new interface differs: $(tree)"
[ -n "$(t_filter_state)" ] || t_fail "no filter on the new interface"
grep -q "^ifindex $ifindex1\$" "$state" || t_fail "the state file does not record the new ifindex"
t_log "re-created as ifindex $ifindex1 (was $ifindex0): shaping again $(((t1 - t0) / 1000000)) ms after the deletion"
t_wait_until 10 _hv2_reachable || t_fail "hv2 unreachable over the new interface"
shaping_works "after re-creation"

t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC"
if t_qdisc_state | grep -q htb; then t_fail "tree left after stop"; fi
[ -z "$(t_filter_state)" ] || t_fail "filter left after stop"
if t_pins_left; then t_fail "pins left"; fi
t_log "PASS"
