#!/usr/bin/env bash
# kill -9 and restart without migrations, then --cleanup. After SIGKILL the
# pinned classifier and the HTB tree stay (fail-static); a restarted agent
# adopts them: the same filter slot, no qdisc or class deleted or re-created
# (a `tc monitor` log taken across the restart shows none). After a second
# SIGKILL, a start that fails while taking them over leaves them as they
# were, and `migshaperd --cleanup` leaves the interface exactly as it was
# found: the qdisc dump and the egress filter list equal those from before
# the first start, no pins, no state file.
. "$(dirname "$0")/lib.sh"

t_setup need_agent
t_config "$T_TMP/agent.conf"
state="$T_TMP/run/$LAB_HV1_IF.state"
mon="$T_TMP/tc-monitor.txt"

ip netns exec "$LAB_NS_HV1" tc qdisc replace dev "$LAB_HV1_IF" root handle 8: tbf rate 3gbit burst 1mb latency 20ms ||
	t_fail "cannot add the tbf"
# The filter's slot and settings; the program id changes with every load.
filter_slot() { t_filter_state | sed -e 's/classifier:\[[0-9]*\]//' -e 's/ id [0-9]*//'; }
qdisc_before=$(t_qdisc_state)
filter_before=$(t_filter_state)

t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent1.log" || t_fail "agent did not get ready"
[ -s "$state" ] || t_fail "no state file at $state"
grep -q '^orig 0x80000 tbf ' "$state" || t_fail "the state file does not record the tbf: $(cat "$state")"
filter_running=$(filter_slot)
classes_running=$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" | sort)

kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=
t_qdisc_state | grep -q '^qdisc htb 1: root' || t_fail "the tree went with the agent"
[ "$(filter_slot)" = "$filter_running" ] || t_fail "the filter changed with the agent's death"
t_pins_left || t_fail "the pins went with the agent"

t_tc_watch_start "$mon"

t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent2.log" || t_fail "restarted agent did not get ready"
grep -q "adopted the tree in place" "$T_TMP/agent2.log" || t_fail "the restarted agent did not adopt the tree"
t_tc_watch_stop
t_log "tc changes during the restart: $(grep -v 'dev lo' "$mon" | paste -sd'|' | cut -c1-400)"
if grep -v 'dev lo' "$mon" | grep -q '^deleted'; then
	t_fail "the restart deleted something: $(grep '^deleted' "$mon" | head -n 3)"
fi
if grep -v 'dev lo' "$mon" | grep -q '^qdisc htb 1: root'; then
	t_fail "the restart re-created the root qdisc"
fi
[ "$(filter_slot)" = "$filter_running" ] || t_fail "the filter moved: before '$filter_running', now '$(filter_slot)'"
classes_after=$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" | sort)
[ "$classes_after" = "$classes_running" ] || t_fail "the classes differ after adoption"
t_log "adopted: same filter slot ($(echo "$filter_running" | head -n 1)), same $(echo "$classes_after" | wc -l) classes"

kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=

# A start that fails while taking over (the ingress backstop's IFB name is
# another device's) undoes none of it: tree, classes, filter, pins and state
# file stay as the killed agent left them, for the --cleanup below.
cp "$state" "$T_TMP/state-before"
t_config "$T_TMP/fail.conf"
t_start_fails_takeover "$T_TMP/fail.conf" "$T_TMP/agent-fail.log"
t_qdisc_state | grep -q '^qdisc htb 1: root' || t_fail "the failed start removed the tree"
[ "$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" | sort)" = "$classes_running" ] ||
	t_fail "the failed start changed the classes"
[ "$(filter_slot)" = "$filter_running" ] || t_fail "the failed start removed or moved the filter: '$(filter_slot)'"
t_pins_left || t_fail "the failed start removed the pins"
cmp -s "$state" "$T_TMP/state-before" || t_fail "the failed start changed or removed the state file"
grep -q 'stays and shapes as before' "$T_TMP/agent-fail.log" ||
	t_fail "the failed start did not say it kept the previous agent's dataplane"

t_hv1 "$AGENT" --cleanup --iface "$LAB_HV1_IF" --run-dir "$T_TMP/run" >"$T_TMP/cleanup.log" 2>&1 ||
	t_fail "--cleanup failed: $(cat "$T_TMP/cleanup.log")"
qdisc_after=$(t_qdisc_state)
filter_after=$(t_filter_state)
t_log "before: $(echo "$qdisc_before" | paste -sd'|')"
t_log "after cleanup: $(echo "$qdisc_after" | paste -sd'|')"
[ "$qdisc_before" = "$qdisc_after" ] || t_fail "--cleanup did not restore the qdiscs"
[ "$filter_before" = "$filter_after" ] || t_fail "--cleanup left filters: $filter_after"
if t_pins_left; then t_fail "--cleanup left pins: $(ls "$MS_PIN_DIR")"; fi
[ ! -e "$state" ] || t_fail "--cleanup left the state file"
[ ! -e "$T_TMP/run/$LAB_HV1_IF" ] || t_fail "--cleanup left the dead agent's knob mount"
# A second --cleanup finds nothing of ours and changes nothing.
t_hv1 "$AGENT" --cleanup --iface "$LAB_HV1_IF" --run-dir "$T_TMP/run" >>"$T_TMP/cleanup.log" 2>&1 ||
	t_fail "a second --cleanup failed"
[ "$(t_qdisc_state)" = "$qdisc_before" ] || t_fail "a second --cleanup changed the qdiscs"
t_log "PASS"
