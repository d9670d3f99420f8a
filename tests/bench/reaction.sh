#!/usr/bin/env bash
# Reaction benchmark -> tests/bench/out/reaction.json
#   {"flow_to_class_ms": {"p50": F, "p99": F},
#    "event_to_speed_ms": {"p50": F, "p99": F}, "poll_interval_ms": F}
# A small guest (64 MiB) migrates hv1 -> hv2 and back BENCH_MIGRATIONS times
# (default 24) with the agent on hv1, which sees each outgoing migration as
# new: its QEMU opens a new connection to the migration port, and the
# classifier reports the connection's first packet on the ring buffer.
#
# flow_to_class_ms: per outgoing migration, from the first packet of its
# migration connection until its own class, its libvirt speed and the flow
# entry are all in place. The agent measures it itself (BPF timestamp of the
# first packet to the end of the scan the ring event triggered) and logs
# "flow <5-tuple>: class and speed in place X ms after its first packet".
# How the other cases count (none is dropped, which would hide the slow path):
#  - a regular cycle attributed the flow before the ring event was handled:
#    the event still logs the line, measured to the end of its own scan, so X
#    is an upper bound; it counts as is.
#  - the ring event's scan could not attribute it ("unattributed migration
#    flow ... belongs to no known migration"): the classifier reports it again
#    after report_interval_ms with that packet's time, so a later "in place"
#    line would understate it. It counts as the time from the first
#    "unattributed" line (a few ms after the first packet: a lower bound) to
#    the "<dom>: flow <5-tuple> in class" line (log timestamps, 1 ms).
# The script prints how many migrations took each path.
#
# event_to_speed_ms: "<dom>: speed set X ms after the migration-iteration
# event", which the agent logs only when that event is the first it hears of
# a migration (usually the ring event or a scan comes first): the number of
# samples is printed, and the fields are null when there are none.
#
# poll_interval_ms: the agent's cycle_ms (the regular scan interval).
# Goal: flow_to_class_ms p99 <= 50 ms.
. "$(dirname "$0")/../lab/virtlib.sh"

N=${BENCH_MIGRATIONS:-24}
CYCLE_MS=${BENCH_CYCLE_MS:-1000}
GUEST_MIB=64
OUT=$T_ROOT/tests/bench/out/reaction.json
mkdir -p "$(dirname "$OUT")"

v_setup
conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
v_config "$conf" migration_aggregate_mbps=400 migration_max_mbps=400 migration_min_mbps=20 \
	cycle_ms="$CYCLE_MS"
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to hv1's libvirtd"

# The project's guest with 64 MiB of RAM and its dirtied range inside it, so
# that a migration takes ~1.5 s at 400 Mbit/s.
g=ms-react
V_MEM_MIB=$GUEST_MIB v_guest "$g" 5

for ((i = 1; i <= N; i++)); do
	v_migrate_bg "$g"
	wait "$T_LAST_PID" || t_fail "migration $i failed: $(cat "$T_TMP/migrate-$g.log")"
	t_wait_until 10 v_log_count_ge "$log" "$g: outgoing migration completed" "$i" ||
		t_fail "the agent did not see migration $i complete"
	v_migrate_back "$g" || t_fail "migration $i back to hv1 failed"
	[ "$(virtlab_virsh hv1 domstate "$g")" = running ] || t_fail "$g is not running on hv1 after migration $i back"
done
[ -n "${BENCH_KEEP_LOG:-}" ] && cp "$log" "$BENCH_KEEP_LOG"

# Per outgoing migration (each "outgoing migration found" line opens one):
# ring = the agent's own measurement; late = the fallback described above.
samples=$(awk -v dom="$g" '
	function ts(line,   p) { split(line, p, " "); return p[1] * 1000 }
	function flush() {
		if (!open) return
		if (late != "") { print "late", late }
		else if (ring != "") { print "ring", ring }
		else { print "none", 0 }
		open = 0
	}
	$0 ~ dom ": outgoing migration found" { flush(); open = 1; ring = ""; late = ""; attr = "" }
	open && /class and speed in place/ && ring == "" {
		for (k = 1; k <= NF; k++) if ($k == "after") { ring = $(k - 2); break }
	}
	/unattributed migration flow .*belongs to no known migration/ {
		fl = $0; sub(/.*unattributed migration flow /, "", fl); sub(/ belongs to.*/, "", fl)
		if (!(fl in seen)) seen[fl] = ts($0)
	}
	open && $0 ~ dom ": flow .* in class" && attr == "" {
		attr = ts($0)
		fl = $0; sub(/.*: flow /, "", fl); sub(/ in class.*/, "", fl)
		if (fl in seen) late = attr - seen[fl]
	}
	END { flush() }' "$log")
n_ring=$(grep -c '^ring' <<<"$samples")
n_late=$(grep -c '^late' <<<"$samples")
n_none=$(grep -c '^none' <<<"$samples")
t_log "outgoing migrations: $((n_ring + n_late + n_none)); flow attributed by the first ring event: $n_ring," \
	"later: $n_late, never: $n_none"
[ $((n_ring + n_late)) -ge 20 ] || t_fail "fewer than 20 measured migrations"
[ "$n_none" -eq 0 ] || t_log "WARNING: $n_none migrations were never attributed (not in the percentiles)"

# Nearest-rank percentiles of a list of numbers on stdin; null when empty.
pct() {
	sort -g | awk -v p="$1" 'NF { v[++n] = $1 } END {
		if (n == 0) { print "null"; exit }
		r = int(p * n / 100 + 0.999999); if (r < 1) r = 1; if (r > n) r = n
		printf "%.2f\n", v[r] }'
}
flow=$(awk '$1 != "none" { print $2 }' <<<"$samples")
ev=$(sed -n "s/.*$g: speed set \([0-9.]*\) ms after the migration-iteration event.*/\1/p" "$log")
n_ev=$(grep -c . <<<"$ev")
[ "$n_ev" -gt 0 ] || ev=''
t_log "flow_to_class_ms samples: $(tr '\n' ' ' <<<"$flow")"
t_log "event_to_speed_ms: $n_ev samples (logged only when the iteration event is the first" \
	"sign of a migration): $(tr '\n' ' ' <<<"$ev")"

jq -n --argjson f50 "$(pct 50 <<<"$flow")" --argjson f99 "$(pct 99 <<<"$flow")" \
	--argjson e50 "$(pct 50 <<<"$ev")" --argjson e99 "$(pct 99 <<<"$ev")" \
	--argjson poll "$CYCLE_MS" \
	'{flow_to_class_ms: {p50: $f50, p99: $f99}, event_to_speed_ms: {p50: $e50, p99: $e99},
	  poll_interval_ms: $poll}' >"$OUT" || t_fail "cannot write $OUT"
met=$(jq -r '.flow_to_class_ms.p99 <= 50' "$OUT")
t_log "goal (flow_to_class_ms p99 <= 50 ms): $([ "$met" = true ] && echo met || echo NOT met)"
