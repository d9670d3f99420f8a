#!/usr/bin/env bash
# The multiqueue backend on a 4-queue uplink (mq, one pfifo_fast per queue)
# without a wire bottleneck. dataplane_backend = auto picks it: the NIC's
# root tree stays exactly as it was, an IFB carries the HTB tree and a u32
# filter behind the classifier redirects to it. A migration-port flow goes
# through the IFB's unattributed class; default traffic never reaches the
# IFB and leaves through the NIC's per-queue pfifo_fast. The IFB set down or
# deleted is set up or made again. Fail-static after
# SIGKILL (kept by a start that fails while taking it over), adoption of the
# same IFB by a new agent, restore on SIGTERM and
# --cleanup put the mq tree back as it was; the backend is recorded, so an
# IFB deleted while no agent runs is made again. Then htb-root on the same NIC:
# one HTB root while it runs, the mq tree back after it. sch_htb's host-wide
# htb_hysteresis (tc/hysteresis.h) is on while a multiqueue agent runs, back
# to what it was after a stop or --cleanup, kept through a crash and
# adoption, never touched with htb-root or htb_hysteresis = 0, and an
# admin's 1 stays. With two agents (a second multi-queue NIC), the first to
# stop, or a --cleanup after one was killed, leaves it on for the other; the
# last one puts it back.
. "$(dirname "$0")/lib.sh"

export LAB_HV1_TXQUEUES=4 LAB_WIRE_MBIT=0
t_setup need_agent

HYST=/sys/module/sch_htb/parameters/htb_hysteresis
modprobe sch_htb 2>/dev/null
[ -w "$HYST" ] || t_fail "no $HYST: this kernel's sch_htb has no hysteresis parameter"
hyst_before=$(cat "$HYST")
# The second NIC's agent (two-agent case below).
nic2_agent=
mq_teardown() {
	[ -n "$nic2_agent" ] && t_agent_stop "$nic2_agent"
	echo "$hyst_before" >"$HYST"
}
T_TEARDOWN=mq_teardown
# Off, as on a host nobody changed it on.
echo 0 >"$HYST"
hyst_is() { [ "$(cat "$HYST")" = "$1" ] || t_fail "htb_hysteresis is $(cat "$HYST") $2, not $1"; }
# The agents' host-wide record: the value before the first one, empty when none changed it.
RECORD=$T_TMP/run/htb_hysteresis
record_is() {
	[ "$(cat "$RECORD" 2>/dev/null)" = "$1" ] ||
		t_fail "the htb_hysteresis record holds '$(cat "$RECORD" 2>/dev/null)' $2, not '$1'"
}

conf() {
	t_config "$1" migration_max_mbps=300 migration_min_mbps=50
	echo "dataplane_backend = $2" >>"$1"
}
# Bytes the NIC's per-queue pfifo_fast children sent, summed.
nic_pfifo_bytes() {
	ip netns exec "$LAB_NS_HV1" tc -s -j qdisc show dev "$LAB_HV1_IF" |
		jq '[.[] | select(.kind == "pfifo_fast") | .bytes] | add // 0'
}
# The NIC's qdisc tree without counters: what must be identical afterwards.
nic_tree() { t_qdisc_state | grep -v '^qdisc clsact'; }
redirect_filter() { t_filter_state | grep -c 'Egress Redirect to device'; }

orig=$(nic_tree)
t_log "NIC tree before: $(echo "$orig" | paste -sd'|')"
echo "$orig" | grep -q '^qdisc mq' || t_fail "the lab's uplink has no mq root: $orig"
[ "$(echo "$orig" | grep -c '^qdisc pfifo_fast')" -eq 4 ] || t_fail "not 4 pfifo_fast children: $orig"

conf "$T_TMP/mq.conf" auto
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-mq.log" || t_fail "agent did not get ready"
grep -q 'dataplane backend on .*: multiqueue' "$T_TMP/agent-mq.log" ||
	t_fail "auto did not pick multiqueue on a 4-queue NIC"
[ "$(nic_tree)" = "$orig" ] || t_fail "the NIC's tree changed under the multiqueue backend: $(nic_tree)"
ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$(t_mq_ifb)" | grep -q '^qdisc htb 1: root' ||
	t_fail "no HTB tree on the IFB $(t_mq_ifb)"
[ "$(redirect_filter)" -eq 1 ] || t_fail "no redirect filter: $(t_filter_state)"
hyst_is 1 "with the multiqueue backend running"
record_is 0 "with the multiqueue backend running"
ifb_index=$(ip -n "$LAB_NS_HV1" -j link show dev "$(t_mq_ifb)" | jq '.[0].ifindex')

# A migration-port flow and a default flow at once.
t_mig_default_servers
mig0=$(t_class_bytes 21 "$(t_mq_ifb)")
def0=$(t_class_bytes 30 "$(t_mq_ifb)")
nic0=$(nic_pfifo_bytes)
hb=$(t_mig_beside_default 4)
mig_sent=$(t_iperf_sent 0)
def_sent=$(t_iperf_sent default)
mig_bytes=$(($(t_class_bytes 21 "$(t_mq_ifb)") - mig0))
def_htb=$(($(t_class_bytes 30 "$(t_mq_ifb)") - def0))
nic_bytes=$(($(nic_pfifo_bytes) - nic0))
t_log "migration flow: sent $mig_sent B, IFB class 1:21 $mig_bytes B, $(t_iperf_mbps 0) Mbit/s (cap 300)"
t_log "default flows: sent $def_sent B, IFB default class $def_htb B, NIC pfifo_fast $nic_bytes B"
t_log "heartbeat: $(echo "$hb" | jq -c '{missed, p99_ms}' 2>/dev/null)"
{ [ "$mig_sent" -gt 0 ] && [ "$def_sent" -gt 0 ]; } || t_fail "a flow sent nothing"
# Headers and retransmissions make the class count a little more than the payload.
t_num_le "$mig_sent" "$((mig_bytes * 105 / 100))" ||
	t_fail "the migration flow bypassed the HTB class: $mig_bytes B for $mig_sent B sent"
[ "$def_htb" -lt $((def_sent / 100)) ] ||
	t_fail "default traffic went through the HTB tree: $def_htb B of $def_sent B"
t_num_le "$((def_sent + mig_sent))" "$((nic_bytes * 105 / 100))" ||
	t_fail "the NIC's pfifo_fast children sent $nic_bytes B, less than the $((def_sent + mig_sent)) B sent"
[ "$(echo "$hb" | jq '.missed')" = 0 ] || t_fail "heartbeats missed: $hb"

# The IFB set down, then deleted (by hand, by a network manager): either
# drops every migration packet redirected to it, until the agent sets it up
# or makes it again (tree, classes, the classifier's note of it, redirect).
ifb_up() { ip -n "$LAB_NS_HV1" -j link show dev "$(t_mq_ifb)" 2>/dev/null | jq -e '.[0].flags | index("UP")' >/dev/null; }
ifb_classes() { ip netns exec "$LAB_NS_HV1" tc class show dev "$(t_mq_ifb)" 2>/dev/null | sort; }
classes_before=$(ifb_classes)
ip -n "$LAB_NS_HV1" link set "$(t_mq_ifb)" down
t_wait_until 5 ifb_up || t_fail "the agent did not set its IFB up again"
grep -q 'was set down' "$T_TMP/agent-mq.log" || t_fail "the agent did not say its IFB was set down"
ip -n "$LAB_NS_HV1" link del "$(t_mq_ifb)"
t_wait_log "$T_TMP/agent-mq.log" "is back (ifindex" 5 || t_fail "the agent did not make its IFB again"
new_index=$(ip -n "$LAB_NS_HV1" -j link show dev "$(t_mq_ifb)" | jq '.[0].ifindex')
[ "$new_index" != "$ifb_index" ] || t_fail "the IFB was not made again (same ifindex $ifb_index)"
ifb_up || t_fail "the IFB made again is not up"
[ "$(ifb_classes)" = "$classes_before" ] ||
	t_fail "the tree made again differs: $(ifb_classes | paste -sd'|') against $(echo "$classes_before" | paste -sd'|')"
[ "$(redirect_filter)" -eq 1 ] || t_fail "not one redirect after the IFB came back: $(t_filter_state)"
ifb_index=$new_index
mig0=$(t_class_bytes 21 "$(t_mq_ifb)")
t_iperf_start 0 2
t_iperf_wait "$T_LAST_PID"
mig_sent=$(t_iperf_sent 0)
mig_bytes=$(($(t_class_bytes 21 "$(t_mq_ifb)") - mig0))
t_log "after the IFB came back: migration flow sent $mig_sent B, class 1:21 $mig_bytes B, $(t_iperf_mbps 0) Mbit/s"
[ "$mig_sent" -gt 0 ] && t_num_le "$mig_sent" "$((mig_bytes * 105 / 100))" ||
	t_fail "the migration flow did not go through the new IFB's class: $mig_bytes B for $mig_sent B sent"
t_num_le 100 "$(t_iperf_mbps 0)" || t_fail "the migration flow carried $(t_iperf_mbps 0) Mbit/s through the new IFB"

# Fail-static: killed, everything stays and keeps shaping; a new agent adopts the same IFB.
kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=
[ "$(redirect_filter)" -eq 1 ] || t_fail "the redirect filter went with the killed agent"
hyst_is 1 "after the agent was killed"
[ "$(ip -n "$LAB_NS_HV1" -j link show dev "$(t_mq_ifb)" | jq '.[0].ifindex')" = "$ifb_index" ] ||
	t_fail "the IFB went with the killed agent"
# A start that fails while taking over (here the ingress backstop's IFB name
# is another device's) undoes nothing of it: classifier, redirect, IFB and
# tree, htb_hysteresis and the state file stay as the killed agent left them.
state_file=$T_TMP/run/$LAB_HV1_IF.state
cp "$state_file" "$T_TMP/state-before" || t_fail "no state file after the kill"
conf "$T_TMP/fail.conf" auto
t_start_fails_takeover "$T_TMP/fail.conf" "$T_TMP/agent-fail.log"
[ "$(redirect_filter)" -eq 1 ] || t_fail "the failed start removed the redirect: $(t_filter_state)"
t_filter_state | grep -q ' bpf ' || t_fail "the failed start removed the classifier: $(t_filter_state)"
[ "$(ip -n "$LAB_NS_HV1" -j link show dev "$(t_mq_ifb)" | jq '.[0].ifindex')" = "$ifb_index" ] ||
	t_fail "the failed start removed the IFB"
ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$(t_mq_ifb)" | grep -q '^qdisc htb 1: root' ||
	t_fail "the failed start removed the tree on the IFB"
cmp -s "$state_file" "$T_TMP/state-before" || t_fail "the failed start changed or removed the state file"
hyst_is 1 "after a failed start"
grep -q 'stays and shapes as before' "$T_TMP/agent-fail.log" ||
	t_fail "the failed start did not say it kept the previous agent's dataplane"
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-mq2.log" || t_fail "restarted agent did not get ready"
grep -q 'took over IFB' "$T_TMP/agent-mq2.log" || t_fail "the restarted agent did not take over the IFB"
grep -q 'adopt' "$T_TMP/agent-mq2.log" || t_fail "the restarted agent did not adopt"
[ "$(ip -n "$LAB_NS_HV1" -j link show dev "$(t_mq_ifb)" | jq '.[0].ifindex')" = "$ifb_index" ] ||
	t_fail "the restarted agent made a new IFB"
[ "$(redirect_filter)" -eq 1 ] || t_fail "not exactly one redirect filter after adoption: $(t_filter_state)"
record_is 0 "after adoption"
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC on SIGTERM"
[ "$(nic_tree)" = "$orig" ] || t_fail "mq tree not as before after stop: $(nic_tree)"
t_qdisc_state | grep -q clsact && t_fail "clsact left after stop"
[ -z "$(t_filter_state)" ] || t_fail "filter left after stop: $(t_filter_state)"
ip -n "$LAB_NS_HV1" link show dev "$(t_mq_ifb)" >/dev/null 2>&1 && t_fail "IFB left after stop"
hyst_is 0 "after the adopting agent stopped"
record_is "" "after the adopting agent stopped"

# --cleanup after a kill.
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-mq3.log" || t_fail "third agent did not get ready"
hyst_is 1 "with the third agent running"
kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=
t_hv1 "$AGENT" --cleanup --iface "$LAB_HV1_IF" --run-dir "$T_TMP/run" >"$T_TMP/cleanup.log" 2>&1 ||
	t_fail "--cleanup failed"
[ "$(nic_tree)" = "$orig" ] || t_fail "mq tree not as before after --cleanup: $(nic_tree)"
[ -z "$(t_filter_state)" ] || t_fail "filter left after --cleanup: $(t_filter_state)"
ip -n "$LAB_NS_HV1" link show dev "$(t_mq_ifb)" >/dev/null 2>&1 && t_fail "IFB left after --cleanup"
hyst_is 0 "after --cleanup"
record_is "" "after --cleanup"
if t_pins_left; then t_fail "pins left after --cleanup"; fi

# Killed, and its IFB deleted while no agent runs: the next agent reads the
# backend from the record, makes the IFB again, and leaves the NIC's mq root
# alone (taken for an htb-root agent's, the mq root would be replaced).
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-mq4.log" || t_fail "fourth agent did not get ready"
grep -q '^backend multiqueue$' "$T_TMP/run/$LAB_HV1_IF.state" ||
	t_fail "the state file does not record the backend: $(cat "$T_TMP/run/$LAB_HV1_IF.state")"
kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=
ip -n "$LAB_NS_HV1" link del "$(t_mq_ifb)" || t_fail "cannot delete the IFB"
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-mq5.log" || t_fail "the agent did not get ready without its IFB"
grep -q 'dataplane backend on .*: multiqueue' "$T_TMP/agent-mq5.log" ||
	t_fail "the agent took the previous tree for htb-root: $(grep 'dataplane backend' "$T_TMP/agent-mq5.log")"
[ "$(nic_tree)" = "$orig" ] || t_fail "the NIC's mq tree was replaced: $(nic_tree)"
ip netns exec "$LAB_NS_HV1" tc qdisc show dev "$(t_mq_ifb)" | grep -q '^qdisc htb 1: root' ||
	t_fail "no tree on the IFB made again"
[ "$(redirect_filter)" -eq 1 ] || t_fail "not one redirect: $(t_filter_state)"
t_agent_stop "$T_AGENT_PID"
[ "$(nic_tree)" = "$orig" ] || t_fail "mq tree not as before after that agent stopped: $(nic_tree)"
ip -n "$LAB_NS_HV1" link show dev "$(t_mq_ifb)" >/dev/null 2>&1 && t_fail "IFB left after stop"
hyst_is 0 "after the agent without its IFB stopped"

# htb-root on the same NIC: the tree replaces mq while the agent runs, mq comes back after.
conf "$T_TMP/root.conf" htb-root
t_agent_start "$T_TMP/root.conf" "$T_TMP/agent-root.log" || t_fail "htb-root agent did not get ready"
grep -q 'dataplane backend on .*: htb-root' "$T_TMP/agent-root.log" || t_fail "htb-root not chosen"
t_qdisc_state | grep -q '^qdisc htb 1: root' || t_fail "no htb root with htb-root: $(t_qdisc_state)"
ip -n "$LAB_NS_HV1" link show dev "$(t_mq_ifb)" >/dev/null 2>&1 && t_fail "an IFB with htb-root"
hyst_is 0 "with htb-root"
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "htb-root agent exited with $T_STOP_RC on SIGTERM"
[ "$(nic_tree)" = "$orig" ] || t_fail "mq tree not as before after htb-root: $(nic_tree)"

# htb_hysteresis = 0: left alone.
conf "$T_TMP/nohyst.conf" multiqueue
echo "htb_hysteresis = 0" >>"$T_TMP/nohyst.conf"
t_agent_start "$T_TMP/nohyst.conf" "$T_TMP/agent-nohyst.log" || t_fail "agent with htb_hysteresis = 0 did not get ready"
hyst_is 0 "with htb_hysteresis = 0"
t_agent_stop "$T_AGENT_PID"
# An admin's 1 is theirs: not recorded, still 1 after the agent stops.
echo 1 >"$HYST"
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-admin.log" || t_fail "agent did not get ready over an admin's htb_hysteresis 1"
record_is "" "with an admin's 1"
t_agent_stop "$T_AGENT_PID"
hyst_is 1 "after an agent stopped that found the admin's 1"

# Two NICs, one agent each (migshaperd@.service): the parameter is one for both.
echo 0 >"$HYST"
NIC2=$LAB_PREFIX-mq2
ip -n "$LAB_NS_HV1" link add "$NIC2" numtxqueues 2 type veth peer name "$NIC2-p" numtxqueues 2 &&
	ip -n "$LAB_NS_HV1" link set "$NIC2-p" up && ip -n "$LAB_NS_HV1" link set "$NIC2" up ||
	t_fail "second NIC $NIC2"
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-nic2.log" --iface "$NIC2" ||
	t_fail "the second NIC's agent did not get ready"
nic2_agent=$T_AGENT_PID
T_AGENT_PID=
grep -q "dataplane backend on $NIC2: multiqueue" "$T_TMP/agent-nic2.log" ||
	t_fail "the second NIC's agent is not on multiqueue: $(grep 'dataplane backend' "$T_TMP/agent-nic2.log")"
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-nic1.log" || t_fail "the first NIC's agent did not get ready"
hyst_is 1 "with two agents"
record_is 0 "with two agents"
t_agent_stop "$T_AGENT_PID"
hyst_is 1 "after one of two agents stopped"
record_is 0 "after one of two agents stopped"
grep -q 'left on: another agent' "$T_TMP/agent-nic1.log" || t_fail "the first agent did not say why it left htb_hysteresis on"
# A killed agent's --cleanup while the other runs: left on too.
t_agent_start "$T_TMP/mq.conf" "$T_TMP/agent-nic1b.log" || t_fail "the first NIC's agent did not get ready again"
kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=
t_hv1 "$AGENT" --cleanup --iface "$LAB_HV1_IF" --run-dir "$T_TMP/run" >"$T_TMP/cleanup2.log" 2>&1 ||
	t_fail "--cleanup with another agent running failed"
hyst_is 1 "after --cleanup of one of two agents"
t_agent_stop "$nic2_agent"
nic2_agent=
[ "$T_STOP_RC" -eq 0 ] || t_fail "the second NIC's agent exited with $T_STOP_RC on SIGTERM"
hyst_is 0 "after the last agent stopped"
record_is "" "after the last agent stopped"
t_log "PASS"
