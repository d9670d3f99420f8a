#!/usr/bin/env bash
# Bad input and hostile surroundings:
#  1. bad config values -> exit 2, a message naming the key, qdisc unchanged;
#  2. a nonexistent interface -> clear error, non-zero, no pins left;
#  3. a second agent on the same interface -> refused, the first keeps shaping;
#  4. the interface deleted under a running agent -> it exits cleanly with a
#     message, no pins left.
. "$(dirname "$0")/lib.sh"

t_setup need_agent

# 1. Bad values: each must exit 2 naming the key, and change nothing.
before=$(t_qdisc_state)
for bad in link_mbps=abc link_mbps=0 migration_ports=70000-1 mgmt_cidrs=300.1.1.1/8 \
	mgmt_ports=http dscp_marking=2 migration_max_mbps=900; do
	key=${bad%%=*}
	t_config "$T_TMP/bad.conf" "$bad"
	rc=0
	out=$(t_hv1 timeout 10 "$AGENT" --iface "$LAB_HV1_IF" --config "$T_TMP/bad.conf" \
		--run-dir "$T_TMP/run" 2>&1) || rc=$?
	t_san_text "$out" "bad '$bad'"
	t_log "bad '$bad': exit $rc: $(echo "$out" | tail -n1)"
	[ $rc -eq 2 ] || t_fail "bad '$bad': exit $rc, expected 2"
	echo "$out" | grep -q "$key" || t_fail "bad '$bad': the message does not name $key"
	[ "$(t_qdisc_state)" = "$before" ] || t_fail "bad '$bad': qdisc changed: $(t_qdisc_state)"
	[ -z "$(t_filter_state)" ] || t_fail "bad '$bad': a filter was left"
done

# 2. A nonexistent interface.
t_config "$T_TMP/agent.conf"
rc=0
out=$(t_hv1 timeout 10 "$AGENT" --iface ms-nosuch0 --config "$T_TMP/agent.conf" \
	--run-dir "$T_TMP/run" 2>&1) || rc=$?
t_san_text "$out" "nonexistent iface"
t_log "nonexistent iface: exit $rc: $(echo "$out" | tail -n1)"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || t_fail "nonexistent iface: exit $rc"
echo "$out" | grep -q ms-nosuch0 || t_fail "nonexistent iface: the message does not name the interface"
[ ! -e /sys/fs/bpf/migshaper/ms-nosuch0 ] || t_fail "nonexistent iface: pins left under /sys/fs/bpf/migshaper/ms-nosuch0"

# 3. A second agent on the same interface.
t_iperf_servers 1
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent-1.log" || t_fail "first agent did not get ready"
first=$T_AGENT_PID
shaped=$(t_qdisc_state)
"${T_HV1[@]}" "$AGENT" --iface "$LAB_HV1_IF" --config "$T_TMP/agent.conf" \
	--run-dir "$T_TMP/run" >"$T_TMP/agent-2.log" 2>&1 &
second=$!
t_exit_status "$second" 10
rc=$T_STOP_RC
t_log "second agent: exit $rc: $(tail -n1 "$T_TMP/agent-2.log")"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || t_fail "second agent was not refused (exit $rc)"
_t_gone "$first" && t_fail "the first agent died"
[ "$(t_qdisc_state)" = "$shaped" ] || t_fail "qdiscs changed after the refused agent"
[ -n "$(t_filter_state)" ] || t_fail "the first agent's filter is gone"
t_class_exists 21 || t_fail "class 1:21 is gone"
b0=$(t_class_bytes 21)
t_iperf_start 0 3
t_iperf_wait "$T_LAST_PID"
b1=$(t_class_bytes 21)
t_log "class 1:21 bytes after the refusal: $b0 -> $b1"
t_num_gt "$b1" "$((b0 + 1000000))" || t_fail "class 1:21 counters did not grow: the first agent no longer shapes"

# 4. Delete the interface under the running agent: it drops what went with
# the interface (pins, state) and keeps running, waiting for it to come back
# (test_link_recreate covers the return); SIGTERM still stops it cleanly.
lines0=$(wc -l <"$T_TMP/agent-1.log")
ip -n "$LAB_NS_HV1" link del "$LAB_HV1_IF" || t_fail "cannot delete $LAB_HV1_IF"
t_wait_log "$T_TMP/agent-1.log" "disappeared" 10 || t_fail "the agent did not notice the deletion"
_no_pins() { ! t_pins_left; }
t_wait_until 5 _no_pins || t_fail "pins left under $MS_PIN_DIR: $(ls "$MS_PIN_DIR")"
_t_gone "$first" && t_fail "the agent died with its interface"
msg=$(tail -n +"$((lines0 + 1))" "$T_TMP/agent-1.log")
t_log "interface deleted: $(echo "$msg" | grep -v "migration flow" | paste -sd"|")"
t_agent_stop "$first"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC on SIGTERM after its interface went"
t_log "PASS"
