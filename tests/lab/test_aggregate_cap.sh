#!/usr/bin/env bash
# Aggregate cap: 3 migration flows under a 300 Mbit/s aggregate; their sum
# (L2 bytes received by hv2 over 5 s after warm-up) is within +-5%.
# Until libvirt attribution exists all three share the unattributed class,
# whose ceil (migration_max_mbps) must not exceed the aggregate: both are 300.
. "$(dirname "$0")/lib.sh"

AGG=300
TOL=5

t_setup need_agent
t_iperf_servers 3
t_config "$T_TMP/agent.conf" migration_aggregate_mbps=$AGG migration_max_mbps=$AGG migration_min_mbps=50
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
pids=()
for i in 0 1 2; do
	t_iperf_start "$i" 9
	pids+=("$T_LAST_PID")
done
sleep 2
got=$(t_l2_mbps 5)
t_iperf_wait "${pids[@]}"
flows=$(for i in 0 1 2; do printf '%.1f ' "$(t_iperf_mbps "$i")"; done)
# Each flow reaches the agent through the ring buffer; with no libvirt it is
# logged once as belonging to no known migration.
nflow_logs=$(grep -c 'unattributed migration flow .* belongs to no known migration' "$T_TMP/agent.log")
t_log "aggregate $AGG Mbit/s: sum $got Mbit/s (L2), error $(t_pct_err "$got" $AGG)%; per-flow goodput: $flows; class 1:20 bytes $(t_class_bytes 20); 'unattributed flow' lines: $nflow_logs"
[ "$nflow_logs" -ge 3 ] || t_fail "the agent logged $nflow_logs new unattributed flows, expected >= 3"
t_within "$got" $AGG $TOL || t_fail_timing "sum $got is outside +-$TOL% of $AGG"
t_log "PASS"
