#!/usr/bin/env bash
# Shaping accuracy benchmark -> tests/bench/out/shaping.json
#   {"cases": [{"cap_mbps": F, "achieved_mbps": F, "error_pct": F}, ...],
#    "worst_error_pct": F}
# One migration flow per cap (migration_max_mbps = cap). achieved_mbps is the
# L2 rate hv2 received (the bytes HTB counts) over BENCH_SECS after BENCH_WARMUP
# seconds; error_pct = |achieved - cap| / cap * 100. The wire is raised above
# the cap (at least 1000 Mbit/s) and link_mbps set to 95% of the wire. Caps
# above 2000 Mbit/s run without a wire bottleneck (a TBF that fast would be
# the limit on this machine; a pfifo counts the bytes) and link_mbps at twice
# the cap. Goal:
# worst_error_pct <= 2.
. "$(dirname "$0")/../lab/lib.sh"

CAPS=${BENCH_CAPS:-10 50 200 800 2000 3500 5000}
WARMUP=${BENCH_WARMUP:-3}
SECS=${BENCH_SECS:-8}
OUT=$T_ROOT/tests/bench/out/shaping.json
mkdir -p "$(dirname "$OUT")"

t_setup need_agent
t_iperf_servers 1
cases=()
worst=0
for cap in $CAPS; do
	wire=$((cap * 12 / 10))
	[ "$wire" -lt 1000 ] && wire=1000
	link=$((wire * 95 / 100))
	if [ "$cap" -gt 2000 ]; then
		wire=0
		link=$((cap * 2))
	fi
	lab_wire_set "$wire" || t_fail "cannot set the wire to $wire"
	if [ "$wire" = 0 ]; then
		ip netns exec "$LAB_NS_WIRE" tc qdisc replace dev "$LAB_WIRE_OUT" root pfifo limit 10000 ||
			t_fail "cannot put a pfifo on the wire"
	fi
	t_config "$T_TMP/agent-$cap.conf" link_mbps=$link mgmt_reserve_mbps=$((link / 20)) \
		migration_aggregate_mbps="$cap" migration_max_mbps="$cap" migration_min_mbps=$((cap < 10 ? cap : 10))
	t_agent_start "$T_TMP/agent-$cap.conf" "$T_TMP/agent-$cap.log" || t_fail "agent did not get ready (cap $cap)"
	t_iperf_start 0 $((WARMUP + SECS + 1))
	pid=$T_LAST_PID
	sleep "$WARMUP"
	got=$(t_l2_mbps "$SECS")
	t_iperf_wait "$pid"
	t_agent_stop "$T_AGENT_PID"
	err=$(awk -v a="$got" -v c="$cap" 'BEGIN { e = (a - c) * 100 / c; if (e < 0) e = -e; printf "%.2f", e }')
	t_log "cap $cap Mbit/s (wire $wire, link $link): achieved $got Mbit/s, error $err%"
	cases+=("{\"cap_mbps\": $cap, \"achieved_mbps\": $got, \"error_pct\": $err}")
	worst=$(awk -v a="$worst" -v b="$err" 'BEGIN { print (b > a) ? b : a }')
done
json=$(printf '%s\n' "${cases[@]}" | jq -s --argjson w "$worst" '{cases: ., worst_error_pct: $w}')
echo "$json" >"$OUT"
t_log "worst error $worst% (goal <= 2%): $(t_num_le "$worst" 2 && echo met || echo NOT met)"
