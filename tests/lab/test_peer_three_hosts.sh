#!/usr/bin/env bash
# Two sources migrate to one destination, agents on all three talking
# through the peer endpoint (issue 14: GET /v1/peer on peer_listen, port
# peer_port 9466; metric migshaper_migration_divisor).
#  - hv1 and hv3 migrate one guest each to hv2 at once; hv2's switch port
#    (500 Mbit/s) is the bottleneck. Both complete, and while both run every
#    source's divisor equals hv2's count (incoming_migrations +
#    outgoing_migrations of its /v1/peer answer, as the divisor takes it);
#    (timing sample) the manager's heartbeat to hv2 misses nothing.
#  - hv2's agent killed during migrations that cannot finish at the floor:
#    each source halves its allocation every cycle down to the floor
#    (migration_min_mbps) within the cycles that takes, and raises it again
#    once hv2's agent is back.
. "$(dirname "$0")/../lab/virtlib.sh"

MIN_MBPS=20
CAP_MBPS=350
PAIR=(hv1:ms-pa0 hv3:ms-pb0)
v3_setup
t3_hb_server

metric() { # HOST NAME: the first value of metric NAME on HOST's agent
	ip netns exec "$(v3_ns "$1")" curl -s -m 2 http://127.0.0.1:9465/metrics |
		awk -v m="$2" '$1 == m || index($1, m "{") == 1 { print $2; exit }'
}
peer_answer() { ip netns exec "$LAB_NS_MGR" curl -s -m 2 "http://$LAB_HV2_IP:9466/v1/peer"; }
# hv2's count as a source's divisor takes it: its migrations in both directions.
peer_count() { peer_answer | jq -r '(.incoming_migrations + .outgoing_migrations) // empty' 2>/dev/null; }
alloc() { local a; a=$(metric "$1" migshaper_migration_allocated_bytes_per_second); echo "${a%.*}"; }

# 128 MiB guests (126 MiB dirtied at 5 MiB/s): each migration's first pass
# takes 6 s at its share (175 Mbit/s), so both run together for 7-8 s, of
# which the divisor samples below judge all but the first 1.5 s; the manager's
# heartbeat is sampled throughout.
V_MEM_MIB=128 v_guests_up 5 "${PAIR[@]}"
pids=()
for h in hv1 hv2 hv3; do
	v3_config "$h" "$T_TMP/$h.conf" migration_min_mbps="$MIN_MBPS" peer_listen="$(v3_ip "$h")" \
		incoming_aggregate_mbps="$CAP_MBPS"
	v3_agent_start "$h" "$T_TMP/$h.conf" "$T_TMP/agent-$h.log" || t_fail "agent on $h did not get ready"
	pids+=("$T_LAST_PID")
	t_wait_log "$T_TMP/agent-$h.log" "libvirt: connected" 15 || t_fail "agent on $h did not connect to libvirt"
done
peer_answer | jq -e '.version == 1 and .incoming_migrations == 0' >/dev/null ||
	t_fail "hv2's agent does not answer GET /v1/peer: '$(peer_answer)'"

# Samples "ms host divisor hv2_count", bounded by the migrations' timeout.
(
	end=$(($(date +%s) + 130))
	while [ "$(date +%s)" -lt "$end" ]; do
		n=$(peer_count)
		for h in hv1 hv3; do
			d=$(metric "$h" migshaper_migration_divisor)
			[ -n "$n" ] && [ -n "$d" ] && echo "$(($(t_now_ns) / 1000000)) $h $d $n"
		done
		sleep 0.3
	done
) >"$T_TMP/divisor.samples" 2>/dev/null &
dl=$!
T_BG_PIDS+=("$dl")
v3_migrations_run both 120 "${PAIR[@]}"
kill "$dl" 2>/dev/null
wait "$dl" 2>/dev/null
t_log "two sources -> hv2: $(cat "$T_TMP/both.json")"
jq -e '.migrations_completed == 2' "$T_TMP/both.json" >/dev/null || t_fail "not both migrations completed"
# A source asks once a cycle (1 s): a sample decides once hv2 has counted 2
# for 1.5 s (the source's answer cannot be older than that).
judged=$(awk '$4 != 2 { since = 0 } $4 == 2 && !since { since = $1 }
	$4 == 2 && $1 - since >= 1500 { print }' "$T_TMP/divisor.samples")
both=$(echo "$judged" | grep -c . || true)
[ "$both" -gt 0 ] || t_fail "hv2 never counted 2 migrations for 1.5 s while the sources showed a divisor: $(tail -n 20 "$T_TMP/divisor.samples")"
bad=$(echo "$judged" | awk '$3 != $4')
[ -z "$bad" ] || t_fail "a source's divisor differs from hv2's count (ms host divisor count): $bad"
t_log "divisor = hv2's count (2) in all $both samples while both ran"

# The destination's agent dies.
v_guests_up 45 "${PAIR[@]/%/-busy}"
for hg in "${PAIR[@]}"; do
	timeout 200 virsh -q -c "$(virtlab_uri "${hg%%:*}")" migrate --live --p2p "${hg#*:}-busy" \
		"qemu+tcp://$LAB_HV2_IP/system" >"$T_TMP/migrate-${hg#*:}-busy.log" 2>&1 &
	T_BG_PIDS+=("$!")
done
# Halving needs an agent that answered before and is gone: kill it only once
# both sources hold its answer (and divide by its count).
answered() {
	ip netns exec "$(v3_ns "$1")" curl -s -m 2 http://127.0.0.1:9465/metrics |
		grep '^migshaper_migration_peer_state{' | grep 'state="answered"' | grep -q ' 1$'
}
both_answered() { answered hv1 && answered hv3 && [ "$(metric hv1 migshaper_migration_divisor)" = 2 ] &&
	[ "$(metric hv3 migshaper_migration_divisor)" = 2 ] && [ -n "$(alloc hv1)" ] && [ -n "$(alloc hv3)" ]; }
t_wait_until 30 both_answered || t_fail "the sources never held hv2's answer for their migrations"
floor=$((MIN_MBPS * 125000))
a0=$(alloc hv1)
# Halvings from a0 to the floor, one a cycle (1 s), plus 3 cycles of slack.
cycles=$(awk -v a="$a0" -v f="$floor" 'BEGIN { n = 0; while (a > f) { a /= 2; n++ } print n + 3 }')
kill -KILL "${pids[1]}"
wait "${pids[1]}" 2>/dev/null
t0=$(t_now_ns)
at_floor() { [ "$(alloc hv1)" -le "$floor" ] && [ "$(alloc hv3)" -le "$floor" ]; }
t_wait_until "$cycles" at_floor || t_fail "the sources did not reach the floor within $cycles s of hv2's agent dying (hv1 $(alloc hv1), hv3 $(alloc hv3) B/s, floor $floor)"
t_log "hv2's agent killed: both sources at the floor after $((($(t_now_ns) - t0) / 1000000)) ms (from $a0 B/s)"
grep -q 'halv\|not answer' "$T_TMP/agent-hv1.log" || t_log "note: hv1's log does not mention the dead peer"

v3_agent_start hv2 "$T_TMP/hv2.conf" "$T_TMP/agent-hv2-again.log" || t_fail "agent on hv2 did not come back"
above_floor() { [ "$(alloc hv1)" -gt $((floor * 2)) ] && [ "$(alloc hv3)" -gt $((floor * 2)) ]; }
t_wait_until 10 above_floor || t_fail "the sources did not recover once hv2's agent was back (hv1 $(alloc hv1), hv3 $(alloc hv3))"
t_log "hv2's agent back: sources at $(alloc hv1) and $(alloc hv3) B/s"
for hg in "${PAIR[@]}"; do virtlab_virsh "${hg%%:*}" domjobabort "${hg#*:}-busy" >/dev/null 2>&1; done

jq -e '.hb.missed == 0' "$T_TMP/both.json" >/dev/null ||
	t_fail_timing "heartbeats to hv2 missed with agents on all three: $(jq -c .hb "$T_TMP/both.json")"
t_log "PASS"
