#!/usr/bin/env bash
# Restore: with a known root qdisc on hv1's uplink, start the agent, check
# it shapes (htb root, clsact, egress filter), SIGTERM it: that root is back
# exactly as before, no egress filter and no clsact remain, no pins. Roots:
# the NIC's own (pfifo_fast), an admin's tbf, and none (a veth's noqueue,
# where auto would leave the root alone: htb-root asked for).
. "$(dirname "$0")/lib.sh"

t_setup need_agent
t_config "$T_TMP/agent.conf"

check_round() {
	local what=$1 conf=${2:-$T_TMP/agent.conf} before after filters
	before=$(t_qdisc_state)
	t_log "$what: before: $(echo "$before" | paste -sd'|')"
	t_agent_start "$conf" "$T_TMP/agent-$what.log" || t_fail "$what: agent did not get ready"
	t_qdisc_state | grep -q '^qdisc htb 1: root' || t_fail "$what: no htb root while the agent runs: $(t_qdisc_state)"
	t_qdisc_state | grep -q '^qdisc clsact' || t_fail "$what: no clsact while the agent runs"
	[ -n "$(t_filter_state)" ] || t_fail "$what: no egress filter while the agent runs"
	t_agent_stop "$T_AGENT_PID"
	[ "$T_STOP_RC" -eq 0 ] || t_fail "$what: agent exited with $T_STOP_RC on SIGTERM"
	after=$(t_qdisc_state)
	filters=$(t_filter_state)
	t_log "$what: after:  $(echo "$after" | paste -sd'|')"
	[ "$before" = "$after" ] || t_fail "$what: root qdisc not restored: before '$before', after '$after'"
	[ -z "$filters" ] || t_fail "$what: filter left: $filters"
	if echo "$after" | grep -q clsact; then t_fail "$what: clsact left behind"; fi
	if t_pins_left; then t_fail "$what: pins left under $MS_PIN_DIR: $(ls "$MS_PIN_DIR")"; fi
}

t_qdisc_state | grep -q '^qdisc pfifo_fast' || t_fail "the lab's NIC has no pfifo_fast root: $(t_qdisc_state)"
check_round pfifo_fast
ip netns exec "$LAB_NS_HV1" tc qdisc replace dev "$LAB_HV1_IF" root handle 8: tbf rate 3gbit burst 1mb latency 20ms ||
	t_fail "cannot add the tbf"
check_round tbf
ip netns exec "$LAB_NS_HV1" tc qdisc del dev "$LAB_HV1_IF" root || t_fail "cannot remove the tbf"
t_qdisc_state | grep -q '^qdisc noqueue' || t_fail "no noqueue root after the tbf went: $(t_qdisc_state)"
cp "$T_TMP/agent.conf" "$T_TMP/htb-root.conf" && echo "dataplane_backend = htb-root" >>"$T_TMP/htb-root.conf"
check_round noqueue "$T_TMP/htb-root.conf"
t_log "PASS"
