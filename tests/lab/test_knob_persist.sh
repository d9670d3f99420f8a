#!/usr/bin/env bash
# A value written through a knob is what the operator asked for: it lasts
# until the next restart or SIGHUP, across what makes the agent derive its
# rates again. On a tap with link_mbps = auto:
#  1. migration_max_mbps and migration_aggregate_mbps written through the
#     knobs stay in force when the link speed changes (ethtool -s);
#  2. `auto` written through a knob reads back as auto, is in force
#     resolved (effective/), and follows the next speed change;
#  3. a knob value stays in force when the interface is deleted and
#     re-created under the same name.
# The classes are read with `tc class show` on the tap.
. "$(dirname "$0")/lib.sh"

t_setup need_agent
command -v ethtool >/dev/null || t_skip "ethtool is not installed (make deps)"
[ -c /dev/fuse ] || t_skip "no /dev/fuse"
tap="$LAB_PREFIX-tap"
log="$T_TMP/agent.log"
K="$T_TMP/run/$tap"
# A tap counts as a link once it has carrier (held open, t_tap) and an admin
# set its speed (its default 10000 Mb/s is no link's): set before it comes
# up, so the agent sees a speed it trusts.
tap_create() {
	t_tap "$LAB_NS_HV1" "$tap" &&
		ip netns exec "$LAB_NS_HV1" ethtool -s "$tap" speed 5000 duplex full autoneg off &&
		ip -n "$LAB_NS_HV1" link set "$tap" up
}
tap_create || t_fail "cannot create $tap"
t_config "$T_TMP/agent.conf" link_mbps=auto mgmt_reserve_mbps=auto migration_aggregate_mbps=auto \
	migration_max_mbps=auto migration_min_mbps=30
class_mbit() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$tap" classid "1:$1" |
		grep -o " $2 [^ ]*" | cut -d' ' -f3
}
# rates_are LINK AGGREGATE MAX: class 1:1 rate, 1:20 rate, 1:21 ceil.
rates_are() {
	[ "$(class_mbit 1 rate)" = "$1" ] && [ "$(class_mbit 20 rate)" = "$2" ] &&
		[ "$(class_mbit 21 ceil)" = "$3" ]
}
rates() { echo "1:1 rate $(class_mbit 1 rate), 1:20 rate $(class_mbit 20 rate), 1:21 ceil $(class_mbit 21 ceil)"; }
set_knob() { echo "$2" >"$K/$1" || t_fail "echo $2 > $1 failed: $(tail -n1 "$log")"; }
knob_is() { [ "$(cat "$K/$1")" = "$2" ] || t_fail "$1 reads '$(cat "$K/$1")', expected '$2' ($3)"; }
set_speed() { ip netns exec "$LAB_NS_HV1" ethtool -s "$tap" speed "$1" duplex full autoneg off || t_fail "ethtool -s $1"; }

mkdir -p "$T_TMP/run"
"${T_HV1[@]}" "$AGENT" --iface "$tap" --config "$T_TMP/agent.conf" --run-dir "$T_TMP/run" >"$log" 2>&1 &
T_AGENT_PID=$!
t_wait_log "$log" "ready" 15 || t_fail "agent did not get ready"
[ -f "$K/link_mbps" ] || t_fail "no knob tree at $K"
# 5000 Mb/s: link 4750, aggregate 3325 guaranteed; at the defaults the
# aggregate and the per-migration max borrow up to the link (work-conserving).
rates_are 4750Mbit 3325Mbit 4750Mbit || t_fail "at 5000 Mb/s: $(rates)"
[ "$(class_mbit 20 ceil)" = 4750Mbit ] || t_fail "aggregate auto: 1:20 ceil $(class_mbit 20 ceil), want the link"

# 1. knob values across a speed change
set_knob migration_max_mbps 400
set_knob migration_aggregate_mbps 500
rates_are 4750Mbit 500Mbit 400Mbit || t_fail "after the knob writes: $(rates)"
[ "$(class_mbit 20 ceil)" = 500Mbit ] || t_fail "aggregate set by hand: 1:20 ceil $(class_mbit 20 ceil), want 500 (a hard cap)"
set_speed 1000
_at_1000() { [ "$(class_mbit 1 rate)" = 950Mbit ]; }
t_wait_until 10 _at_1000 || t_fail "the link rate did not follow 1000 Mb/s: $(rates)"
rates_are 950Mbit 500Mbit 400Mbit || t_fail "knob values lost on the speed change to 1000 Mb/s: $(rates)"
knob_is migration_aggregate_mbps 500 "after the speed change"
knob_is migration_max_mbps 400 "after the speed change"

# 2. auto through a knob stays auto and follows the speed
set_knob migration_aggregate_mbps auto
knob_is migration_aggregate_mbps auto "written auto"
knob_is effective/migration_aggregate_mbps 665 "auto at 1000 Mb/s"
rates_are 950Mbit 665Mbit 400Mbit || t_fail "aggregate auto at 1000 Mb/s: $(rates)"
set_speed 5000
_at_5000() { [ "$(class_mbit 1 rate)" = 4750Mbit ]; }
t_wait_until 10 _at_5000 || t_fail "the link rate did not follow 5000 Mb/s: $(rates)"
rates_are 4750Mbit 3325Mbit 400Mbit || t_fail "aggregate auto did not follow 5000 Mb/s: $(rates)"
knob_is migration_aggregate_mbps auto "after the speed change"
knob_is effective/migration_aggregate_mbps 3325 "auto at 5000 Mb/s"

# 3. knob value across the interface's deletion and re-creation
set_knob migration_aggregate_mbps 500
rates_are 4750Mbit 500Mbit 400Mbit || t_fail "before the re-creation: $(rates)"
ip -n "$LAB_NS_HV1" link del "$tap" || t_fail "cannot delete $tap"
t_wait_log "$log" "disappeared" 10 || t_fail "the agent did not see $tap go"
tap_create || t_fail "cannot re-create $tap"
t_wait_log "$log" "is back (ifindex" 10 || t_fail "the agent did not shape the re-created $tap"
rates_are 4750Mbit 500Mbit 400Mbit || t_fail "knob values lost on the re-creation: $(rates)"
knob_is migration_aggregate_mbps 500 "after the re-creation"

t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC"
t_log "PASS"
