#!/usr/bin/env bash
# The receive-side backstop (ingress_backstop = 1, tc/ingress.h): a source
# without an agent (hv3) floods the destination (hv2) with migration-like
# TCP; the destination's downlink (a 500 Mbit/s switch port) is the
# bottleneck and the manager's heartbeat to hv2 queues behind it. Side by
# side: the heartbeat without an agent on hv2 and with the backstop. Checked:
#  - the IFB, its class and the filters appear with the agent and go with it,
#    also after a restart that took over what a killed agent left, and
#    follow the knobs (incoming_aggregate_mbps, ingress_backstop), and
#    --cleanup removes what a killed agent left;
#  - all migration traffic, and no management traffic, goes through the IFB;
#  - (timing samples) the migration goodput stays at the cap, and the
#    heartbeat misses nothing with the backstop.
# How much of the downlink queue it removes is reported (README, bench peer).
. "$(dirname "$0")/lib.sh"

SECS=${SECS:-10}
CAP_MBPS=${CAP_MBPS:-350}
t_setup need_agent
T_TEARDOWN=t3_pins_remove
t3_up || t_fail "three-host lab up failed"
tc_hv2() { ip netns exec "$LAB_NS_HV2" tc "$@"; }
ifindex=$(ip -n "$LAB_NS_HV2" -j link show dev "$LAB_HV2_IF" | jq '.[0].ifindex')
IFB=msi$ifindex
ifb_present() { ip -n "$LAB_NS_HV2" link show dev "$IFB" >/dev/null 2>&1; }
n_filters() { tc_hv2 filter show dev "$LAB_HV2_IF" ingress 2>/dev/null | grep -c 'fh 8[0-9a-f]*::[0-9a-f]* order'; }
ifb_packets() {
	tc_hv2 -s class show dev "$IFB" classid 1:10 2>/dev/null | awk '$1 == "Sent" { print $4; exit }'
}
ifb_bytes() {
	tc_hv2 -s class show dev "$IFB" classid 1:10 2>/dev/null | awk '$1 == "Sent" { print $2; exit }'
}
iperf_bytes() { jq '[.end.sum_received.bytes // 0] | add' "$T_TMP/iperf-0.json"; }

t_iperf_servers 1
t3_hb_server

idle=$(t3_hb_run 5)
t_log "idle:               $idle"
without=$(t3_flood_scenario "$SECS" 1)
t_log "without agent:      $without"
echo "$without" | jq -e '.mig_mbps > 0' >/dev/null || t_fail "no migration traffic reached hv2"

conf="$T_TMP/hv2.conf"
t_config "$conf" libvirt_uri=none
{
	echo "libvirt_uri = none"
	echo "incoming_aggregate_mbps = $CAP_MBPS"
	echo "ingress_backstop = 1"
} >>"$conf"
log="$T_TMP/agent-hv2.log"
t3_agent_start "$LAB_NS_HV2" "$LAB_HV2_IF" "$conf" "$log" || t_fail "agent on hv2 did not get ready"
agent=$T_LAST_PID
ifb_present || t_fail "no IFB $IFB on hv2 with ingress_backstop = 1"
tc_hv2 class show dev "$IFB" | grep -q "rate ${CAP_MBPS}Mbit" || t_fail "IFB class not at $CAP_MBPS Mbit: $(tc_hv2 class show dev "$IFB")"
nf=$(n_filters)
# 3 management ports x 2 families + 1 migration block x 2 families.
[ "$nf" -eq 8 ] || t_fail "expected 8 ingress filter entries, found $nf"

# Management alone: the heartbeat never reaches the IFB.
p0=$(ifb_packets)
hb_alone=$(t3_hb_run 3)
p1=$(ifb_packets)
echo "$hb_alone" | jq -e '.sent > 20 and .missed == 0' >/dev/null || t_fail "heartbeat alone: $hb_alone"
[ "$p1" -eq "$p0" ] || t_fail "management packets went through the IFB ($((p1 - p0)))"

b0=$(ifb_bytes)
with=$(t3_flood_scenario "$SECS" 1)
b1=$(ifb_bytes)
t_log "with backstop:      $with"
# Every migration byte the receiver got went through the IFB (its class
# counts frames with headers, the receiver payload only).
got=$(iperf_bytes)
t_num_gt $((b1 - b0)) "$got" || t_fail "IFB carried $((b1 - b0)) bytes, the receiver got $got"

# Restart over a killed agent: the same IFB and one set of filters.
kill -KILL "$agent"
wait "$agent" 2>/dev/null
ifb_present || t_fail "the IFB went with the killed agent (fail-static expected)"
ifb_idx=$(ip -n "$LAB_NS_HV2" -j link show dev "$IFB" | jq '.[0].ifindex')
t3_agent_start "$LAB_NS_HV2" "$LAB_HV2_IF" "$conf" "$T_TMP/agent-hv2-2.log" ||
	t_fail "agent on hv2 did not get ready after the kill"
agent=$T_LAST_PID
[ "$(ip -n "$LAB_NS_HV2" -j link show dev "$IFB" | jq '.[0].ifindex')" = "$ifb_idx" ] ||
	t_fail "the restarted agent made a new IFB"
[ "$(n_filters)" -eq 8 ] || t_fail "after the restart: $(n_filters) filter entries, expected 8"

# The knobs: the cap follows incoming_aggregate_mbps; ingress_backstop turns it off and on.
knobs="$T_TMP/run-$LAB_NS_HV2/$LAB_HV2_IF"
t_wait_until 5 mountpoint -q "$knobs" || t_fail "no knob tree at $knobs"
echo 200 >"$knobs/incoming_aggregate_mbps" || t_fail "cannot write incoming_aggregate_mbps"
tc_hv2 class show dev "$IFB" | grep -q "rate 200Mbit" || t_fail "the IFB class did not follow the knob: $(tc_hv2 class show dev "$IFB")"
echo 0 >"$knobs/ingress_backstop" || t_fail "cannot turn the backstop off"
ifb_present && t_fail "the IFB is left with ingress_backstop = 0"
[ "$(n_filters)" -eq 0 ] || t_fail "ingress filters left with ingress_backstop = 0"
echo 1 >"$knobs/ingress_backstop" || t_fail "cannot turn the backstop on"
ifb_present || t_fail "no IFB after ingress_backstop = 1"
[ "$(n_filters)" -eq 8 ] || t_fail "$(n_filters) filter entries after ingress_backstop = 1, expected 8"
tc_hv2 class show dev "$IFB" | grep -q "rate 200Mbit" || t_fail "the IFB class lost the knob's cap"
echo 2000 >"$knobs/incoming_aggregate_mbps" 2>/dev/null && t_fail "incoming_aggregate_mbps above link_mbps accepted"
tc_hv2 class show dev "$IFB" | grep -q "rate 200Mbit" || t_fail "a refused write changed the cap"
t_agent_stop "$agent"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent on hv2 exited with $T_STOP_RC"
ifb_present && t_fail "the IFB is left after the agent stopped"
[ "$(n_filters)" -eq 0 ] || t_fail "ingress filters left after the agent stopped"

# --cleanup after a killed agent removes the backstop too.
t3_agent_start "$LAB_NS_HV2" "$LAB_HV2_IF" "$conf" "$T_TMP/agent-hv2-3.log" ||
	t_fail "agent on hv2 did not get ready a third time"
kill -KILL "$T_LAST_PID"
wait "$T_LAST_PID" 2>/dev/null
ifb_present || t_fail "the IFB went with the killed agent (fail-static expected)"
nsenter --net="/run/netns/$LAB_NS_HV2" -- "$AGENT" --cleanup --iface "$LAB_HV2_IF" \
	--run-dir "$T_TMP/run-$LAB_NS_HV2" >"$T_TMP/cleanup.log" 2>&1 || t_fail "--cleanup failed: $(cat "$T_TMP/cleanup.log")"
ifb_present && t_fail "the IFB is left after --cleanup"
[ "$(n_filters)" -eq 0 ] || t_fail "ingress filters left after --cleanup"

t_log "side by side (missed, p50, p99 ms; downlink queue mean/max KB):"
for r in "idle $idle" "without $without" "backstop $with"; do
	t_log "  $(echo "${r#* }" | jq -r --arg l "${r%% *}" '"\($l): \(.missed) \(.p50_ms) \(.p99_ms); queue \(.queue_kb_mean // "-")/\(.queue_kb_max // "-"); mig \(.mig_mbps // "-") Mbit/s"')"
done
# Timing samples: the cap holds, and management gets through.
mig=$(echo "$with" | jq .mig_mbps)
t_num_le "$mig" "$(awk -v c="$CAP_MBPS" 'BEGIN { print c * 1.05 }')" ||
	t_fail_timing "migration goodput $mig Mbit/s above the $CAP_MBPS Mbit/s cap"
echo "$with" | jq -e '.missed == 0' >/dev/null || t_fail_timing "heartbeats missed with the backstop: $with"
t_log "PASS"
