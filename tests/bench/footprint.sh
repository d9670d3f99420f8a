#!/usr/bin/env bash
# Agent footprint benchmark -> tests/bench/out/footprint.json
#   {"idle": {"cpu_pct": F, "rss_kib": N},
#    "busy": {"migrations": N, "cpu_pct": F, "rss_kib": N},
#    "synthetic64": {"cpu_us_per_migration_cycle": F}}
# cpu_pct: the agent's utime + stime (/proc/PID/stat) over BENCH_SECS (20 s)
# as a percentage of one CPU; rss_kib: its VmRSS at the end of the window.
# idle: the agent on hv1, connected to hv1's libvirtd, no migration.
# busy: BENCH_BUSY_MIGRATIONS (default 6) real migrations at once, held at
# 20 Mbit/s each by a low aggregate so that all of them run through the whole
# window (the guests dirty nothing, so each would converge at any speed).
# synthetic64: bench_coord (tests/bench/bench_coord.c): CPU of one
# coordinator cycle with 64 outgoing migrations (real HTB classes, flow map
# and sock_diag attribution, no libvirt), per migration, in µs.
. "$(dirname "$0")/../lab/virtlib.sh"

SECS=${BENCH_SECS:-20}
NMIG=${BENCH_BUSY_MIGRATIONS:-6}
BENCH_COORD=$T_ROOT/$BUILD/bench/bench_coord
OUT=$T_ROOT/tests/bench/out/footprint.json
mkdir -p "$(dirname "$OUT")"

[ -x "$BENCH_COORD" ] || t_skip "$BENCH_COORD is not built (make $BUILD/bench/bench_coord)"
[ "$NMIG" -ge 4 ] || t_fail "BENCH_BUSY_MIGRATIONS must be at least 4"
# First, alone on the machine: it times CPU.
synthetic=$("$BENCH_COORD") || t_fail "bench_coord failed"
t_log "synthetic, 64 migrations (µs of CPU per migration per cycle): $synthetic"

v_setup
conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
per=20
v_config "$conf" migration_aggregate_mbps=$((per * NMIG)) migration_max_mbps=$((per * NMIG)) \
	migration_min_mbps=10
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to hv1's libvirtd"
[ "$(cat "/proc/$T_AGENT_PID/comm")" = migshaperd ] || t_fail "pid $T_AGENT_PID is not the agent"
clk_tck=$(getconf CLK_TCK)

# f_cpu_ticks: the agent's utime + stime (fields 14 and 15; comm has no spaces).
f_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$T_AGENT_PID/stat"; }
f_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$T_AGENT_PID/status"; }
# f_measure: {"cpu_pct": F, "rss_kib": N} over SECS.
f_measure() {
	local c0 c1 t0 t1
	c0=$(f_cpu_ticks)
	t0=$(t_now_ns)
	sleep "$SECS"
	c1=$(f_cpu_ticks)
	t1=$(t_now_ns)
	jq -n --argjson pct "$(awk -v c="$((c1 - c0))" -v hz="$clk_tck" -v t="$((t1 - t0))" \
		'BEGIN { printf "%.3f", c / hz * 100 / (t / 1e9) }')" --argjson rss "$(f_rss_kib)" \
		'{cpu_pct: $pct, rss_kib: $rss}'
}

sleep 2
idle=$(f_measure) || t_fail "idle measurement failed"
t_log "idle: $idle"

guests=()
for ((i = 0; i < NMIG; i++)); do
	guests+=("ms-fp$i")
	v_guest "ms-fp$i" 0
done
for g in "${guests[@]}"; do v_migrate_bg "$g"; done
t_wait_until 30 v_mig_classes_are "$NMIG" ||
	t_fail "$NMIG classes never existed at once ($(v_mig_classes))"
t_wait_until 10 v_log_count_ge "$log" ": flow .* in class" "$NMIG" || t_fail "not every flow was attributed"
sleep 2
busy=$(f_measure) || t_fail "busy measurement failed"
running=$(v_mig_classes)
t_log "busy, $running migrations: $busy"
[ "$running" -eq "$NMIG" ] || t_fail "a migration ended during the window ($running of $NMIG left)"
# The migrations are cut short by the lab's clean-up (the domains are destroyed).

jq -n --argjson i "$idle" --argjson b "$busy" --argjson n "$NMIG" --argjson s "$synthetic" \
	'{idle: $i, busy: ({migrations: $n} + $b),
	  synthetic64: {cpu_us_per_migration_cycle: $s.steady}}' >"$OUT" ||
	t_fail "cannot write $OUT"
