#!/usr/bin/env bash
# link_mbps = auto follows the link's speed as ethtool netlink reports it.
# A tap's default 10000 Mb/s is no link's speed: with it, auto is refused
# with a message to set link_mbps. Once an admin set a speed (`ethtool -s`,
# which on a tap changes it with no carrier change, no RTM_NEWLINK) the agent
# shapes to it, hears later changes on ethtool's monitor group and derives
# the link rate and the auto keys again (95% of the speed, then 10% reserve,
# 70% aggregate), while keys set in the file stay.
. "$(dirname "$0")/lib.sh"

t_setup need_agent
command -v ethtool >/dev/null || t_skip "ethtool is not installed (make deps)"
tap="$LAB_PREFIX-tap"
log="$T_TMP/agent.log"
t_tap "$LAB_NS_HV1" "$tap" || t_fail "cannot create $tap"
ip -n "$LAB_NS_HV1" link set "$tap" up
t_config "$T_TMP/agent.conf" link_mbps=auto mgmt_reserve_mbps=auto migration_aggregate_mbps=auto \
	migration_max_mbps=auto migration_min_mbps=30
class_rate() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$tap" classid "1:$1" | grep -o ' rate [^ ]*' | cut -d' ' -f3
}
rates_are() { [ "$(class_rate 1)" = "$1" ] && [ "$(class_rate 10)" = "$2" ] && [ "$(class_rate 20)" = "$3" ]; }

mkdir -p "$T_TMP/run"
# The driver's default speed: refused, with what to do.
rc=0
timeout 20 "${T_HV1[@]}" "$AGENT" --iface "$tap" --config "$T_TMP/agent.conf" --run-dir "$T_TMP/run" \
	>"$T_TMP/refused.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || t_fail "auto on a tap at its default speed: exit $rc, want 2 ($(tail -n 3 "$T_TMP/refused.log"))"
grep -q "set link_mbps" "$T_TMP/refused.log" || t_fail "the refusal does not say to set link_mbps: $(cat "$T_TMP/refused.log")"
t_log "auto on a tap at 10000 Mb/s (its default): refused: $(grep -m1 'set link_mbps' "$T_TMP/refused.log")"

ip netns exec "$LAB_NS_HV1" ethtool -s "$tap" speed 5000 duplex full autoneg off || t_fail "ethtool -s 5000"
"${T_HV1[@]}" "$AGENT" --iface "$tap" --config "$T_TMP/agent.conf" --run-dir "$T_TMP/run" >"$log" 2>&1 &
T_AGENT_PID=$!
t_wait_log "$log" "ready" 15 || t_fail "agent did not get ready"
# Set to 5000 Mb/s: link 4750, reserve 475, aggregate 3325.
rates_are 4750Mbit 475Mbit 3325Mbit || t_fail "at 5000 Mb/s: 1:1 $(class_rate 1), 1:10 $(class_rate 10), 1:20 $(class_rate 20)"
[ "$(class_rate 21)" = 30Mbit ] || t_fail "migration_min_mbps from the file is not 30: $(class_rate 21)"

t0=$(t_now_ns)
ip netns exec "$LAB_NS_HV1" ethtool -s "$tap" speed 1000 duplex full autoneg off || t_fail "ethtool -s"
_at_1000() { rates_are 950Mbit 95Mbit 665Mbit; }
t_wait_until 10 _at_1000 || t_fail "at 1000 Mb/s: 1:1 $(class_rate 1), 1:10 $(class_rate 10), 1:20 $(class_rate 20)"
t1=$(t_now_ns)
[ "$(class_rate 21)" = 30Mbit ] || t_fail "migration_min_mbps from the file changed: $(class_rate 21)"
t_wait_log "$log" "link speed of $tap is now 1000 Mbit/s" 5 || t_fail "the speed change was not logged"
t_log "5000 -> 1000 Mb/s: rates derived again after $(((t1 - t0) / 1000000)) ms"

t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC"
t_log "PASS"
