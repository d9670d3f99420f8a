#!/usr/bin/env bash
# Another tool replaces or deletes the agent's root qdisc. With
# reassert_root_qdisc=1 (the default) the agent notices, logs it and puts
# its tree back, classes and all; with 0 it leaves the other root in place
# and takes over again only once that root is removed.
. "$(dirname "$0")/lib.sh"

t_setup need_agent
t_config "$T_TMP/agent.conf"
log="$T_TMP/agent.log"
knobs="$T_TMP/run/$LAB_HV1_IF"
tc_hv1() { ip netns exec "$LAB_NS_HV1" tc "$@"; }
tree_is_ours() {
	tc_hv1 qdisc show dev "$LAB_HV1_IF" | grep -q '^qdisc htb 1: root' &&
		[ "$(tc_hv1 class show dev "$LAB_HV1_IF" | grep -c '^class htb 1:')" -eq 5 ]
}
root_is_tbf() { tc_hv1 qdisc show dev "$LAB_HV1_IF" | grep -q '^qdisc tbf 7: root'; }

t_agent_start "$T_TMP/agent.conf" "$log" || t_fail "agent did not get ready"
tree_is_ours || t_fail "no tree after start"

# 1. replaced: put back
t0=$(t_now_ns)
tc_hv1 qdisc replace dev "$LAB_HV1_IF" root handle 7: tbf rate 100mbit burst 100k latency 10ms || t_fail "tc replace"
t_wait_until 10 tree_is_ours || t_fail "the tree was not put back after a replace"
t1=$(t_now_ns)
t_wait_log "$log" "putting the migshaper tree back" 5 || t_fail "the replace was not logged"
t_log "replaced by tbf: tree back after $(((t1 - t0) / 1000000)) ms"

# 2. deleted: put back
n_before=$(grep -c "putting the migshaper tree back" "$log")
t0=$(t_now_ns)
tc_hv1 qdisc del dev "$LAB_HV1_IF" root || t_fail "tc del"
_reasserted_again() { [ "$(grep -c "putting the migshaper tree back" "$log")" -gt "$n_before" ] && tree_is_ours; }
t_wait_until 10 _reasserted_again || t_fail "the tree was not put back after a delete"
t1=$(t_now_ns)
t_log "deleted: tree back after $(((t1 - t0) / 1000000)) ms"

# 3. reassert_root_qdisc=0: the other root stays until it is removed
echo 0 >"$knobs/reassert_root_qdisc" || t_fail "cannot write the knob"
tc_hv1 qdisc replace dev "$LAB_HV1_IF" root handle 7: tbf rate 100mbit burst 100k latency 10ms || t_fail "tc replace"
t_wait_log "$log" "reassert_root_qdisc is 0" 10 || t_fail "the yield was not logged"
# Let two or three cycles pass (1 s each): it must still be theirs.
sleep 2.5
root_is_tbf || t_fail "the agent replaced the other tool's root although reassert_root_qdisc=0"
[ "$(grep -c 'reassert_root_qdisc is 0' "$log")" -eq 1 ] || t_fail "the yield was logged more than once"
t0=$(t_now_ns)
tc_hv1 qdisc del dev "$LAB_HV1_IF" root || t_fail "tc del"
t_wait_until 10 tree_is_ours || t_fail "the tree did not come back once the other root was removed"
t1=$(t_now_ns)
t_wait_log "$log" "is free again" 5 || t_fail "the take-over was not logged"
t_log "reassert_root_qdisc=0: tbf kept; tree back $(((t1 - t0) / 1000000)) ms after it was removed"

t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC"
if tc_hv1 qdisc show dev "$LAB_HV1_IF" | grep -q htb; then t_fail "tree left after stop"; fi
t_log "PASS"
