#!/usr/bin/env bash
# Both ends of a migration (issue 14) -> tests/bench/out/peer.json
#   {"dest_heartbeat": {"without_agents": H, "with_agents": H,
#                       "ingress_backstop_only": H},
#    "divisor_matches": B, "dead_peer_halvings": N}
#   H = {"missed": N, "p50_ms": F, "p99_ms": F}
# Two sources (hv1, hv3, each behind its own 1 Gbit/s wire) migrate one guest
# each to hv2 at once, at libvirt's default speed; hv2's switch port
# (PEER_DEST_MBIT, default 500 Mbit/s, a 1000-packet FIFO) is the bottleneck,
# and the manager's heartbeat to hv2 (10/s, 1 s timeout) runs throughout.
#  - without_agents: no agent anywhere.
#  - ingress_backstop_only: an agent on hv2 alone, ingress_backstop = 1 at
#    incoming_aggregate_mbps = 70% of the port; the sources have none.
#  - with_agents: agents on all three, peer_listen on each (the peer
#    endpoint, /v1/peer, port peer_port 9466). divisor_matches: while both
#    migrations run (hv2 has counted 2 for 1.5 s: a source asks once a
#    cycle), every source's migshaper_migration_divisor equals hv2's count
#    (incoming_migrations + outgoing_migrations of its /v1/peer answer).
#    dead_peer_halvings: with hv2's
#    agent killed, how many times a source's allocation
#    (migshaper_migration_allocated_bytes_per_second) halved before it sat
#    at the floor (migration_min_mbps).
. "$(dirname "$0")/../lab/virtlib.sh"

T3_DEST_MBIT=${PEER_DEST_MBIT:-500}
GUEST_MIB=${PEER_GUEST_MIB:-512}
MIG_TIMEOUT_S=${PEER_MIG_TIMEOUT_S:-150}
CAP_MBPS=$((T3_DEST_MBIT * 7 / 10))
MIN_MBPS=${PEER_MIN_MBPS:-20}
OUT=$T_ROOT/tests/bench/out/peer.json
mkdir -p "$(dirname "$OUT")"
PICK='{missed, p50_ms, p99_ms}'
PAIR=(hv1:ms-pa0 hv3:ms-pb0)

v3_setup
# V_DATA=DIR keeps each phase's result, heartbeat trace and queue samples
# (v3_migrations_run) there instead of in the test's scratch directory
# (made by v3_setup).
DATA=${V_DATA:-$T_TMP}
t3_hb_server
V_MEM_MIB=$GUEST_MIB V_GUEST_HOST=hv1 v_guest ms-pa0 5
V_MEM_MIB=$GUEST_MIB V_GUEST_HOST=hv3 v_guest ms-pb0 5

idle=$(t3_hb_run 5)
t_log "idle heartbeat to hv2: $idle"

# 1. No agent anywhere.
v3_migrations_run without "$MIG_TIMEOUT_S" "${PAIR[@]}"
t_log "without agents: $(cat "$DATA/without.json")"
v3_migrate_home "${PAIR[@]}"

# 2. The backstop on hv2 alone.
conf=$T_TMP/hv2-backstop.conf
v3_config hv2 "$conf" migration_min_mbps="$MIN_MBPS" incoming_aggregate_mbps="$CAP_MBPS" ingress_backstop=1
v3_agent_start hv2 "$conf" "$T_TMP/agent-hv2-backstop.log" || t_fail "agent on hv2 did not get ready"
dest_agent=$T_LAST_PID
v3_migrations_run backstop "$MIG_TIMEOUT_S" "${PAIR[@]}"
t_log "backstop only: $(cat "$DATA/backstop.json")"
t_agent_stop "$dest_agent"
v3_migrate_home "${PAIR[@]}"

# 3. Agents on all three, talking to each other.
metric() { # HOST NAME: the values of metric NAME on HOST's agent, one a line
	ip netns exec "$(v3_ns "$1")" curl -s -m 2 http://127.0.0.1:9465/metrics |
		awk -v m="$2" '$1 == m || index($1, m "{") == 1 { print $2 }'
}
peer_answer() { ip netns exec "$LAB_NS_MGR" curl -s -m 2 "http://$LAB_HV2_IP:9466/v1/peer"; }
peer_count() { peer_answer | jq -r '(.incoming_migrations + .outgoing_migrations) // empty' 2>/dev/null; }
alloc() { metric "$1" migshaper_migration_allocated_bytes_per_second | head -n 1; }
# Halving needs an agent that answered before and is gone: kill it only once hv1 holds its answer.
answered() {
	ip netns exec "$(v3_ns hv1)" curl -s -m 2 http://127.0.0.1:9465/metrics |
		grep '^migshaper_migration_peer_state{' | grep 'state="answered"' | grep -q ' 1$'
}
has_answer() { answered && [ "$(metric hv1 migshaper_migration_divisor | head -n 1)" = 2 ] && [ -n "$(alloc hv1)" ]; }
pids=()
for h in hv1 hv2 hv3; do
	v3_config "$h" "$T_TMP/$h.conf" migration_min_mbps="$MIN_MBPS" \
		peer_listen="$(v3_ip "$h")" incoming_aggregate_mbps="$CAP_MBPS"
	v3_agent_start "$h" "$T_TMP/$h.conf" "$T_TMP/agent-$h.log" || t_fail "agent on $h did not get ready"
	pids+=("$T_LAST_PID")
	t_wait_log "$T_TMP/agent-$h.log" "libvirt: connected" 15 || t_fail "agent on $h did not connect to libvirt"
done
dest_agent=${pids[1]}
peer_answer | jq -e '.version == 1' >/dev/null || t_fail "hv2's agent does not answer GET /v1/peer: '$(peer_answer)'"
# Divisor samples while the migrations run: "ms src_divisor dst_count" per source.
(
	end=$(($(date +%s) + MIG_TIMEOUT_S + 10))
	while [ "$(date +%s)" -lt "$end" ]; do
		n=$(peer_count)
		for h in hv1 hv3; do
			d=$(metric "$h" migshaper_migration_divisor | head -n 1)
			[ -n "$n" ] && [ -n "$d" ] && echo "$(($(t_now_ns) / 1000000)) $d $n"
		done
		sleep 0.5
	done
) >"$T_TMP/divisor.samples" 2>/dev/null &
dl=$!
T_BG_PIDS+=("$dl")
v3_migrations_run with "$MIG_TIMEOUT_S" "${PAIR[@]}"
kill "$dl" 2>/dev/null
wait "$dl" 2>/dev/null
t_log "with agents: $(cat "$DATA/with.json")"
with=$(jq -c ".hb | $PICK" "$DATA/with.json")
# Only samples taken while both ran (hv2 counted 2 for 1.5 s) decide; none is false.
divisor=$(awk '$3 != 2 { since = 0 } $3 == 2 && !since { since = $1 }
	$3 == 2 && $1 - since >= 1500 { n++; if ($2 != $3) bad++ }
	END { print (n > 0 && !bad) ? "true" : "false" }' "$T_TMP/divisor.samples")
v3_migrate_home "${PAIR[@]}"

# The destination's agent dies during migrations that cannot finish at
# the floor (45 MiB/s dirtied); count the halvings of hv1's allocation.
for hg in "${PAIR[@]}"; do
	V_GUEST_HOST=${hg%%:*} v_guest "${hg#*:}-busy" 45
done
for hg in "${PAIR[@]}"; do
	timeout 200 virsh -q -c "$(virtlab_uri "${hg%%:*}")" migrate --live --p2p "${hg#*:}-busy" \
		"qemu+tcp://$LAB_HV2_IP/system" >"$T_TMP/migrate-${hg#*:}-busy.log" 2>&1 &
	T_BG_PIDS+=("$!")
done
t_wait_until 30 has_answer || t_fail "hv1's agent never held hv2's answer for its migration"
kill -KILL "$dest_agent"
floor=$((MIN_MBPS * 125000))
prev='' halvings=0
for _ in $(seq 1 60); do
	a=$(alloc hv1)
	a=${a%.*}
	if [ -n "$a" ] && [ -n "$prev" ] && [ "$a" -lt "$prev" ] &&
		awk -v a="$a" -v p="$prev" 'BEGIN { exit !(a >= p * 0.45 && a <= p * 0.55) }'; then
		halvings=$((halvings + 1))
	fi
	[ -n "$a" ] && prev=$a
	[ -n "$a" ] && [ "$a" -le "$floor" ] && break
	sleep 0.5
done
t_log "dead peer: $halvings halvings down to $prev B/s (floor $floor)"
for hg in "${PAIR[@]}"; do virtlab_virsh "${hg%%:*}" domjobabort "${hg#*:}-busy" >/dev/null 2>&1; done

jq -n --slurpfile wo "$DATA/without.json" --slurpfile bs "$DATA/backstop.json" \
	--argjson w "$with" --argjson d "$divisor" --argjson h "$halvings" \
	"{dest_heartbeat: {without_agents: (\$wo[0].hb | $PICK), with_agents: \$w,
	  ingress_backstop_only: (\$bs[0].hb | $PICK)}, divisor_matches: \$d, dead_peer_halvings: \$h}" >"$OUT"
t_log "idle p99 $(echo "$idle" | jq .p99_ms) ms; $(cat "$OUT")"
