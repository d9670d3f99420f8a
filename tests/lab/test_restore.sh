#!/usr/bin/env bash
# Restore: with a known root qdisc (tbf) on hv1's uplink, start the agent,
# check it shapes (htb root, clsact, egress filter), SIGTERM it: the tbf is
# back exactly as before, no egress filter and no clsact remain, no pins.
# Then the same from the veth's default (no qdisc).
. "$(dirname "$0")/lib.sh"

t_setup need_agent
t_config "$T_TMP/agent.conf"

check_round() {
	local what=$1 before after filters
	before=$(t_qdisc_state)
	t_log "$what: before: $(echo "$before" | paste -sd'|')"
	t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent-$what.log" || t_fail "$what: agent did not get ready"
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

ip netns exec "$LAB_NS_HV1" tc qdisc add dev "$LAB_HV1_IF" root handle 8: tbf rate 3gbit burst 1mb latency 20ms ||
	t_fail "cannot add the tbf"
check_round tbf
ip netns exec "$LAB_NS_HV1" tc qdisc del dev "$LAB_HV1_IF" root || t_fail "cannot remove the tbf"
check_round default
t_log "PASS"
