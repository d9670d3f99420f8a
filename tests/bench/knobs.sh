#!/usr/bin/env bash
# Knob write -> kernel latency benchmark -> tests/bench/out/knobs.json
#   {"write_to_kernel_ms": {"p50": F, "p99": F}, "writes": N}
# The real agent in the lab; tests/bench/bench_knobs.c writes
# migration_aggregate_mbps through the knob tree, alternating 700 and 800, and
# times each write() until the aggregate class (1:20) shows the new rate over
# netlink. Goal: p99 <= 10 ms.
. "$(dirname "$0")/../lab/lib.sh"

WRITES=${BENCH_KNOB_WRITES:-1000}
BIN=$T_ROOT/$BUILD/bench/bench_knobs
OUT=$T_ROOT/tests/bench/out/knobs.json
mkdir -p "$(dirname "$OUT")"
[ -x "$BIN" ] || t_skip "$BIN is not built (make BUILD=$BUILD $BUILD/bench/bench_knobs)"
[ -c /dev/fuse ] || t_skip "no /dev/fuse"

t_setup need_agent
# migration_max_mbps below both values, so that either aggregate is valid.
t_config "$T_TMP/agent.conf" migration_aggregate_mbps=800 migration_max_mbps=600
echo "libvirt_uri = none" >>"$T_TMP/agent.conf"
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
knob="$T_TMP/run/$LAB_HV1_IF/migration_aggregate_mbps"
t_wait_until 5 test -f "$knob" || t_fail "no knob at $knob"
# In hv1's network namespace (netlink to its uplink) but the host's mount
# namespace (the knob tree).
t_hv1 "$BIN" "$knob" "$LAB_HV1_IF" 20 700 800 "$WRITES" >"$T_TMP/knobs.json" ||
	t_fail "bench_knobs failed"
jq -e '(.write_to_kernel_ms.p50 | type) == "number" and (.write_to_kernel_ms.p99 | type) == "number"
	and (.writes | type) == "number"' "$T_TMP/knobs.json" >/dev/null ||
	t_fail "bench_knobs printed no result: $(cat "$T_TMP/knobs.json")"
cp "$T_TMP/knobs.json" "$OUT"
t_log "$(cat "$OUT")"
# Counted with what the log's rate limit held back, the last second's at exit.
t_agent_stop "$T_AGENT_PID" || t_fail "the agent did not stop cleanly (status $T_STOP_RC)"
accepted=$(t_log_count "$T_TMP/agent.log" "knob $LAB_HV1_IF/migration_aggregate_mbps set to")
[ "$accepted" -eq "$WRITES" ] ||
	t_fail "the agent logged $accepted accepted writes, not $WRITES"
p99=$(jq '.write_to_kernel_ms.p99' "$OUT")
t_log "goal (p99 <= 10 ms): $(t_num_le "$p99" 10 && echo met || echo NOT met)"
