#!/usr/bin/env bash
# The operator surfaces under abuse, while the heartbeat and three capped
# migration flows run (issue 18):
#   HTTP (/metrics on 0.0.0.0:9465 in hv1; the attacker is the manager's
#   namespace, the scraper hv1's 127.0.0.1, each scrape a fresh connection
#   with a 2 s timeout; tests/tools/httpabuse.c):
#     idle17:      17 idle connections for 3 s, scrapes every 0.5 s meanwhile;
#     slowloris50: 50 connections trickling header lines (reopened when cut)
#                  for ABUSE_SLOW_SECS (20 s here, 60 s in the benchmark),
#                  a scrape every 5 s;
#     idle500:     500 idle connections for 15 s, a scrape every second;
#   after each, scrapes every 0.1 s until one succeeds. Every scrape must
#   succeed, the first one after an attack within one header timeout (5 s);
#   the agent's fds and RSS stay bounded; the sheds are counted in
#   migshaper_http_connections_shed_total and logged (rate-limited);
#   shaping is unchanged: the qdiscs, the flows' sum within 5% of the cap,
#   and no heartbeat missed.
#   Logging: a knob write with an embedded newline or control bytes forges
#   no line; 8 writers x 5 s of bad values give a bounded number of lines
#   with a "suppressed" count that, with the lines, adds up to the refused
#   writes once the agent has stopped, and the knob keeps its value.
# ABUSE_JSON=FILE also writes the benchmark's JSON (tests/bench/abuse.sh).
. "$(dirname "$0")/lib.sh"

ABUSE=${ABUSE:-$T_ROOT/$BUILD/tools/httpabuse}
SLOW_SECS=${ABUSE_SLOW_SECS:-20}
WRITE_SECS=5
WRITERS=8
AGG=300
PORT=9465
# One header timeout of the server (agent/ops/http.h).
TIMEOUT_S=5
[ -x "$ABUSE" ] || t_skip "$ABUSE is not built (make $BUILD/tools/httpabuse)"

t_setup need_agent
t_iperf_servers 3
t_config "$T_TMP/agent.conf" migration_aggregate_mbps=$AGG migration_max_mbps=$AGG
echo "metrics_listen = 0.0.0.0" >>"$T_TMP/agent.conf"
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
t_wait_listen "$LAB_NS_HV1" $PORT || t_fail "the agent does not serve /metrics on port $PORT"
agent=$T_AGENT_PID
K="$T_TMP/run/$LAB_HV1_IF"

scrape() { t_hv1 "$ABUSE" scrape --connect 127.0.0.1 --port $PORT --timeout-ms 2000 "$@"; }
attack() {
	local mode=$1
	shift
	ip netns exec "$LAB_NS_MGR" "$ABUSE" "$mode" --connect "$LAB_HV1_IP" --port $PORT "$@"
}
metric() {
	ip netns exec "$LAB_NS_HV1" curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
		awk -v m="$1" 'index($0, m " ") == 1 { print $2 }'
}
fds() { ls "/proc/$agent/fd" 2>/dev/null | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status" 2>/dev/null; }

# The agent works before anything else happens.
ok=$(scrape --duration-s 1 --until-ok | jq .ok)
[ "$ok" = 1 ] || t_fail "no scrape succeeds before the attacks"
fds0=$(fds)
rss0=$(rss_kb)
shaped=$(t_qdisc_state)

# Traffic for the whole HTTP part: three flows and the heartbeat.
HTTP_SECS=$((3 + SLOW_SECS + 15 + 3 * TIMEOUT_S + 15))
t_hb_server
ip netns exec "$LAB_NS_MGR" timeout $((HTTP_SECS + 15)) "$HB" client --connect "$LAB_HV1_IP" \
	--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$HTTP_SECS" --json \
	>"$T_TMP/hb.json" 2>"$T_TMP/hb.err" &
hb_pid=$!
T_BG_PIDS+=("$hb_pid")
flow_pids=()
for i in 0 1 2; do
	t_iperf_start "$i" "$HTTP_SECS"
	flow_pids+=("$T_LAST_PID")
done
# The agent's fds and RSS every 0.2 s: "fds rss_kb".
(
	while :; do
		echo "$(fds) $(rss_kb)"
		sleep 0.2
	done
) >"$T_TMP/usage.samples" 2>/dev/null &
T_BG_PIDS+=("$!")
sleep 2

# run_attack NAME SCRAPE_EVERY_MS ATTACK_ARGS...: the attack in the
# background, scrapes during it, then scrapes until one succeeds.
# Leaves "NAME scrapes ok p99_ms recovered_after_s" in $T_TMP/results.
run_attack() {
	local name=$1 every=$2 hold=$5 apid during after
	shift 2
	attack "$@" >"$T_TMP/attack-$name.json" 2>&1 &
	apid=$!
	T_BG_PIDS+=("$apid")
	sleep 0.5
	during=$(scrape --every-ms "$every" --duration-s "$(awk -v h="$hold" 'BEGIN { print h - 1 }')")
	wait "$apid"
	after=$(scrape --every-ms 100 --duration-s $((3 * TIMEOUT_S)) --until-ok)
	t_log "$name: attacker $(cat "$T_TMP/attack-$name.json"); scrapes during $during; after $after"
	jq -rn --argjson d "$during" --argjson a "$after" --arg n "$name" \
		'"\($n) \($d.scrapes + $a.scrapes) \($d.ok + $a.ok) \([$d.p99_ms, $a.p99_ms] | max) \(if $a.first_ok_ms < 0 then -1 else $a.first_ok_ms / 1000 end)"' \
		>>"$T_TMP/results"
}
run_attack idle17 500 idle --hold-s 3 --conns 17
run_attack slowloris50 5000 slow --hold-s "$SLOW_SECS" --conns 50 --interval-ms 1000
# The cap is measured while 500 connections knock.
run_attack idle500 1000 idle --hold-s 15 --conns 500 &
attack_pid=$!
sleep 5
l2=$(t_l2_mbps 5)
wait "$attack_pid"
t_iperf_wait "${flow_pids[@]}"
wait "$hb_pid" 2>/dev/null
hb=$(cat "$T_TMP/hb.json")
read -r fds_max rss_max < <(awk '$1 > f { f = $1 } $2 > r { r = $2 } END { print f + 0, r + 0 }' "$T_TMP/usage.samples")
shed_addr=$(metric 'migshaper_http_connections_shed_total{reason="address_limit"}')
shed_hdr=$(metric 'migshaper_http_connections_shed_total{reason="header_timeout"}')
shed_logs=$(grep -c 'connection(s) unserved since the last report' "$T_TMP/agent.log")
t_log "fds $fds0 -> max $fds_max; RSS $rss0 kB -> max $rss_max kB; flows' sum $l2 Mbit/s (cap $AGG) during idle500; heartbeat $hb"
t_log "shed: address_limit ${shed_addr:-absent}, header_timeout ${shed_hdr:-absent}; shed log lines $shed_logs"

fails=0
check() {
	if "${@:2}"; then
		t_log "ok: $1"
	else
		t_log "FAIL: $1"
		fails=$((fails + 1))
	fi
}
while read -r name scrapes ok p99 rec; do
	check "$name: $ok of $scrapes scrapes succeeded (p99 $p99 ms)" test "$ok" -eq "$scrapes"
	check "$name: a scrape succeeded ${rec} s after the attack (<= $TIMEOUT_S s)" \
		awk -v r="$rec" -v t="$TIMEOUT_S" 'BEGIN { exit !(r >= 0 && r <= t) }'
done <"$T_TMP/results"
check "agent fds bounded ($fds_max <= $fds0 + 64 + 16)" test "$fds_max" -le $((fds0 + 64 + 16))
check "agent RSS bounded ($rss_max kB <= $rss0 + 32768 kB)" test "$rss_max" -le $((rss0 + 32768))
check "connections over the per-address limit counted (${shed_addr:-absent})" t_num_gt "${shed_addr:-0}" 0
check "slow headers cut and counted (${shed_hdr:-absent})" t_num_gt "${shed_hdr:-0}" 0
check "sheds logged, rate-limited ($shed_logs lines)" \
	test "$shed_logs" -ge 1 -a "$shed_logs" -le $((HTTP_SECS / 10 + 2))
check "qdiscs unchanged" test "$(t_qdisc_state)" = "$shaped"
check "flows' sum within 5% of the $AGG Mbit/s cap ($l2)" t_within "$l2" $AGG 5
check "no heartbeat missed ($(echo "$hb" | jq -r .missed) of $(echo "$hb" | jq -r .sent))" \
	test "$(echo "$hb" | jq -r '.missed // -1')" = 0

# --- logging --------------------------------------------------------------
knob=$K/migration_aggregate_mbps
before=$(cat "$knob")
printf '500\nFAKE info: FORGED\nx' >"$knob" 2>/dev/null && t_fail "a value with newlines was accepted"
printf '5\033[2J\007\r' >"$knob" 2>/dev/null && t_fail "a value with control bytes was accepted"
_t_logged() { grep -q 'FORGED' "$T_TMP/agent.log" && grep -q 'rejected .5.\[2J' "$T_TMP/agent.log"; }
t_wait_until 5 _t_logged || t_fail "the refused writes were not logged"
check "no forged line (none starts with FAKE)" test "$(grep -c '^FAKE' "$T_TMP/agent.log")" = 0
check "no raw control byte in the log" test "$(LC_ALL=C grep -c $'[\x01-\x08\x0b-\x1f\x7f]' "$T_TMP/agent.log")" = 0

lines0=$(wc -l <"$T_TMP/agent.log")
end=$(($(date +%s) + WRITE_SECS))
wpids=()
for ((w = 0; w < WRITERS; w++)); do
	(while [ "$(date +%s)" -lt "$end" ]; do echo "bad$w" >"$knob"; done) 2>/dev/null &
	wpids+=("$!")
done
T_BG_PIDS+=("${wpids[@]}")
for p in "${wpids[@]}"; do wait "$p"; done
lines1=$(wc -l <"$T_TMP/agent.log")
rejected=$(metric 'migshaper_knob_writes_total{result="rejected"}')
bad_lines=$((lines1 - lines0))
per_s=$(awk -v n="$bad_lines" -v s="$WRITE_SECS" 'BEGIN { printf "%.1f", n / s }')
t_log "$WRITERS writers x $WRITE_SECS s of bad values: $bad_lines log lines ($per_s/s); rejected writes so far ${rejected:-?}"
check "bad writes give a bounded number of lines ($bad_lines <= 50/s)" \
	test "$bad_lines" -le $((50 * WRITE_SECS))
check "far more writes were refused than logged (${rejected:-0} > 4 x $bad_lines)" \
	test "${rejected:-0}" -gt $((4 * bad_lines))
check "the suppressed messages are counted" \
	grep -Eq 'log: suppressed [0-9]+ more messages like: knob .*rejected' "$T_TMP/agent.log"
check "the knob kept its value ($(cat "$knob"))" test "$(cat "$knob")" = "$before"
# Every refused write is in the log, as its own line or in a "suppressed K"
# count; stopped at once, the agent writes the count of its last second at exit.
t_agent_stop "$agent" || t_fail "the agent exited with status $T_STOP_RC on SIGTERM"
logged=$(t_log_count "$T_TMP/agent.log" ": rejected '")
check "every refused write was logged or counted ($logged of ${rejected:-?}), the last second's at exit" \
	test "$logged" = "${rejected:-none}"

if [ -n "${ABUSE_JSON:-}" ]; then
	jq -Rn --argjson lps "$per_s" '
		[inputs | split(" ") | {key: .[0], value: {scrapes: (.[1] | tonumber), ok: (.[2] | tonumber),
			p99_ms: (.[3] | tonumber), recovered_after_s: (.[4] | tonumber)}}] | from_entries
		| {attacks: ., log_lines_per_s_under_bad_writes: $lps}' <"$T_TMP/results" >"$ABUSE_JSON" ||
		t_fail "cannot write $ABUSE_JSON"
fi
[ $fails -eq 0 ] || t_fail "$fails check(s) failed"
t_log "PASS"
