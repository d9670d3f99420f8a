#!/usr/bin/env bash
# Management protection benchmark -> tests/bench/out/mgmt.json
#   {"idle": {"missed": N, "p50_ms": F, "p99_ms": F},
#    "with_agent": {...}, "without_agent": {...}}
# Heartbeat from mgr to hv1 (10/s, 1 s timeout): idle, then during 4 migration
# flows saturating hv1's 1 Gbit/s uplink without and with the agent.
# Goal: with_agent missed = 0 and p99 <= idle p99 + 1 ms.
. "$(dirname "$0")/../lab/lib.sh"

SECS=${BENCH_SECS:-30}
IDLE_SECS=${BENCH_IDLE_SECS:-10}
NFLOWS=4
OUT=$T_ROOT/tests/bench/out/mgmt.json
mkdir -p "$(dirname "$OUT")"

t_setup need_agent
t_iperf_servers $NFLOWS
t_hb_server
idle=$(t_hb_run "$IDLE_SECS")
t_log "idle:          $idle"
without=$(t_mig_scenario "$SECS" $NFLOWS)
t_log "without agent: $without"
t_config "$T_TMP/agent.conf" migration_aggregate_mbps=850 migration_max_mbps=850
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
with=$(t_mig_scenario "$SECS" $NFLOWS)
t_log "with agent:    $with"
pick='{missed, p50_ms, p99_ms}'
jq -n --argjson i "$idle" --argjson wo "$without" --argjson w "$with" \
	"{idle: (\$i | $pick), with_agent: (\$w | $pick), without_agent: (\$wo | $pick)}" >"$OUT" ||
	t_fail "a heartbeat run gave no result"
met=$(jq -r '(.with_agent.missed == 0 and .with_agent.p99_ms <= .idle.p99_ms + 1)' "$OUT")
t_log "goal (with_agent missed 0, p99 <= idle p99 + 1 ms): $([ "$met" = true ] && echo met || echo NOT met)"
