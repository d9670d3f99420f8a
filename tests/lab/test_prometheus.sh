#!/usr/bin/env bash
# A real Prometheus (Debian's `prometheus`) scrapes the agent every second
# during a migration flow, and what it stored is checked through its HTTP API:
#   - rate(migshaper_class_bytes_total{class="unattributed"}[8s]) matches the
#     wire's own byte counter (both count what qdiscs count: L2 frames, each
#     TSO segment with its headers) within 10%, while the classifier's own
#     counter (migshaper_classifier_bytes_total) stays under 10% of it: the
#     flow's socket is tagged with its class by then, and the classifier
#     leaves counting tagged packets to HTB. The wire is sampled every 0.2 s
#     meanwhile and interpolated at the first and last sample Prometheus used, so both
#     rates cover the same interval even when the flow's rate wanders (on a
#     busy machine it does: a window misaligned by one scrape was measured
#     7% off). iperf3's goodput (L4 payload, whole run) is printed only;
#   - migshaper_mgmt_rtt_seconds is present and > 0 while the heartbeat runs
#     (the management connection's smoothed TCP RTT: agent/control/mgmthealth.c), and
#     migshaper_mgmt_retransmits_total is present.
# Prometheus runs in hv1's namespace (the agent serves 127.0.0.1:9465 there)
# with its TSDB under the test's temporary directory, and is stopped on exit.
# Exit 0 pass, 1 fail, 77 if the lab, prometheus, promtool or curl is missing.
. "$(dirname "$0")/lib.sh"

PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
PROM_PORT=19090
FLOW_SECS=16
# The measured window starts once the flow is past slow start.
WARM_SECS=4
WIN_SECS=8

if [ -z "$PROMETHEUS" ] || [ ! -x "$PROMETHEUS" ]; then
	t_skip "prometheus is missing (Debian: apt-get install prometheus)"
fi
if [ -z "$PROMTOOL" ] || [ ! -x "$PROMTOOL" ]; then
	t_skip "promtool is missing (Debian: apt-get install prometheus)"
fi
command -v curl >/dev/null 2>&1 || t_skip "curl is missing"
t_setup need_agent

# prom_query EXPR [UNIX_TIME]: the first sample's value, empty if none.
prom_query() {
	local args=(--data-urlencode "query=$1")
	[ -n "${2:-}" ] && args+=(--data-urlencode "time=$2")
	ip netns exec "$LAB_NS_HV1" curl -sfG --max-time 5 "${args[@]}" \
		"http://127.0.0.1:$PROM_PORT/api/v1/query" | jq -r '.data.result[0].value[1] // empty'
}
# prom_samples SELECTOR WINDOW_S UNIX_TIME: "first_ts first_value last_ts last_value"
# of the raw samples Prometheus holds in the window ending at UNIX_TIME.
prom_samples() {
	ip netns exec "$LAB_NS_HV1" curl -sfG --max-time 5 --data-urlencode "query=$1[$2s]" \
		--data-urlencode "time=$3" "http://127.0.0.1:$PROM_PORT/api/v1/query" |
		jq -r '.data.result[0].values // [] | select(length >= 2) |
			"\(.[0][0]) \(.[0][1]) \(.[-1][0]) \(.[-1][1])"'
}
# wire_at UNIX_TIME: the wire's byte counter at that time, interpolated
# between the background sampler's readings.
wire_at() {
	awk -v t="$1" 'NR == 1 && $1 >= t { print $2; exit }
		{ if ($1 >= t) { printf "%.0f\n", pb + ($2 - pb) * (t - pt) / ($1 - pt); done = 1; exit }
		  pt = $1; pb = $2 }
		END { if (!done && NR) print pb }' "$T_TMP/wire.samples"
}
_prom_up() { [ "$(prom_query 'up{job="migshaper"}')" = 1 ]; }
_prom_ready() { ip netns exec "$LAB_NS_HV1" curl -sf --max-time 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null; }

cat >"$T_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: migshaper
    static_configs:
      - targets: ["127.0.0.1:9465"]
EOF
"$PROMTOOL" check config "$T_TMP/prometheus.yml" >/dev/null || t_fail "promtool rejects the test's prometheus.yml"

t_config "$T_TMP/agent.conf"
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
t_wait_listen "$LAB_NS_HV1" 9465 || t_fail "the agent does not serve /metrics on 127.0.0.1:9465"

# timeout bounds it even if the cleanup is skipped (SIGKILL of the test).
t_bg "$LAB_NS_HV1" "$T_TMP/prometheus.log" timeout 85 "$PROMETHEUS" \
	--config.file="$T_TMP/prometheus.yml" --storage.tsdb.path="$T_TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn
t_wait_until 20 _prom_ready || t_fail "prometheus did not get ready"
t_wait_until 10 _prom_up || t_fail "prometheus does not scrape the agent (up != 1)"
t_log "prometheus ready and scraping 127.0.0.1:9465 every second"

t_iperf_servers 1
t_hb_server
ip netns exec "$LAB_NS_MGR" timeout $((FLOW_SECS + 15)) "$HB" client --connect "$LAB_HV1_IP" \
	--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s $((FLOW_SECS + 2)) --json \
	>"$T_TMP/hb.json" 2>"$T_TMP/hb.err" &
hb_pid=$!
T_BG_PIDS+=("$hb_pid")
t_iperf_start 0 "$FLOW_SECS"
iperf_pid=$T_LAST_PID

# The wire's counter every 0.2 s: "unix_time bytes", stamped at the
# middle of the read.
(
	while :; do
		a=$(t_now_ns)
		b=$(t_wire_bytes)
		c=$(t_now_ns)
		awk -v a="$a" -v c="$c" -v b="$b" 'BEGIN { printf "%.4f %s\n", (a + c) / 2e9, b }'
		sleep 0.2
	done
) >"$T_TMP/wire.samples" 2>/dev/null &
T_BG_PIDS+=("$!")

sleep $((WARM_SECS + WIN_SECS))
at=$(awk -v t="$(t_now_ns)" 'BEGIN { printf "%.3f", t / 1e9 }')
# Let Prometheus scrape past the window's end.
sleep 1.5
read -r ts0 _ ts1 _ < <(prom_samples 'migshaper_class_bytes_total{class="unattributed"}' "$WIN_SECS" "$at")
[ -n "${ts1:-}" ] || t_fail "Prometheus holds fewer than 2 samples of the unattributed class in ${WIN_SECS} s"
w0=$(wire_at "$ts0")
w1=$(wire_at "$ts1")
wire_Bps=$(awk -v b0="$w0" -v b1="$w1" -v t0="$ts0" -v t1="$ts1" 'BEGIN { printf "%.0f", (b1 - b0) / (t1 - t0) }')
class_Bps=$(prom_query "rate(migshaper_class_bytes_total{class=\"unattributed\"}[${WIN_SECS}s])" "$at")
bpf_Bps=$(prom_query "rate(migshaper_classifier_bytes_total{class=\"unattributed\"}[${WIN_SECS}s])" "$at")
rtt=$(prom_query 'migshaper_mgmt_rtt_seconds' "$at")
rtt_max=$(prom_query "max_over_time(migshaper_mgmt_rtt_seconds[${WIN_SECS}s])" "$at")
retrans=$(prom_query 'migshaper_mgmt_retransmits_total' "$at")
t_iperf_wait "$iperf_pid"
wait "$hb_pid" 2>/dev/null
goodput=$(t_iperf_mbps 0)

mbps() { awk -v b="${1:-0}" 'BEGIN { printf "%.1f", b * 8 / 1e6 }'; }
t_log "window ${WIN_SECS} s ($(awk -v a="$ts0" -v b="$ts1" 'BEGIN { printf "%.1f", b - a }') s between the first and last scrape): wire $(mbps "$wire_Bps") Mbit/s; Prometheus rate: class $(mbps "$class_Bps") Mbit/s, classifier $(mbps "$bpf_Bps") Mbit/s; iperf3 goodput (whole run) $goodput Mbit/s"
t_log "management: rtt ${rtt:-absent} s (max ${rtt_max:-absent} s in the window), retransmits_total ${retrans:-absent}; heartbeat $(cat "$T_TMP/hb.json" 2>/dev/null)"

fails=0        # functional checks
timing_fails=0 # rates measured over the window
# check WHAT CMD...: a functional check; check_timing: a rate over the window.
check() {
	if "${@:2}"; then
		t_log "ok: $1"
	else
		t_log "FAIL: $1"
		fails=$((fails + 1))
	fi
}
check_timing() {
	if "${@:2}"; then
		t_log "ok: $1"
	else
		t_log "FAIL (timing): $1"
		timing_fails=$((timing_fails + 1))
	fi
}
[ -n "$class_Bps" ] || t_fail "Prometheus has no migshaper_class_bytes_total{class=\"unattributed\"}"
[ -n "$bpf_Bps" ] || t_fail "Prometheus has no migshaper_classifier_bytes_total{class=\"unattributed\"}"
check_timing "class byte rate within 10% of the wire ($(t_pct_err "$class_Bps" "$wire_Bps")%)" \
	t_within "$class_Bps" "$wire_Bps" 10
# Functional: untagged, the flow's every byte would be in it.
check "classifier's own byte rate under 10% of the wire (the flow's socket is tagged; HTB counts it)" \
	t_num_gt "$(awk -v w="$wire_Bps" 'BEGIN { print w / 10 }')" "$bpf_Bps"
if [ -z "$rtt" ]; then
	t_log "FAIL: migshaper_mgmt_rtt_seconds is absent while the heartbeat runs (is agent/control/mgmthealth.c wired into the agent?)"
	fails=$((fails + 1))
else
	check "management RTT reported and > 0 (${rtt} s)" t_num_gt "$rtt" 0
	check "management retransmit counter reported (${retrans:-absent})" test -n "$retrans"
fi
[ $fails -eq 0 ] || t_fail "$fails check(s) failed"
# The timing samples last: every functional check above fails at once.
t_num_gt "$wire_Bps" 12500000 || t_fail_timing "no traffic on the wire ($(mbps "$wire_Bps") Mbit/s)"
[ $timing_fails -eq 0 ] || t_fail_timing "$timing_fails rate check(s) out of bounds"
t_log "PASS"
