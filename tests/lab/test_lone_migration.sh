#!/usr/bin/env bash
# Work-conserving defaults: with every rate on auto but link_mbps (the lab's
# 1 Gbit wire, shaped at 950), one migration flow alone uses the link that
# management and default traffic leave, instead of stopping at its
# guaranteed 70% (665 Mbit/s), while mgr's heartbeat (10/s) misses nothing.
# Next to a default-class flow (VM traffic), the migration borrows only what
# default leaves: default keeps its rate (20%) and, ahead of migrations, the
# idle management reserve. Then migration_aggregate_mbps set by hand is a
# hard cap again.
#   functional: the aggregate class 1:20 is rate 665 ceil 950 at the
#     defaults and rate = ceil = 500 when set; no heartbeat missed.
#   timing (exit 75): alone the flow's L2 rate >= 0.8 x link (the bench
#     mgmt.sh reports the real share against the 0.9 goal); next to a
#     default flow, from the HTB class counters over the same seconds (L2,
#     the unit link_mbps shapes): default >= 25% of the link (its 20% plus
#     the idle reserve; 20% if migrations borrowed first) and the migration
#     >= 50% (it is guaranteed 70%); under the hard cap within 500 + 5%.
. "$(dirname "$0")/lib.sh"

LINK=950
SECS=${LONE_SECS:-8}
WARMUP=3
CAP=500

DEFAULT_PORT=5201

t_setup need_agent
t_iperf_servers 1
t_hb_server
t_bg "$LAB_NS_HV2" "$T_TMP/iperf-server-default.out" iperf3 -s -p $DEFAULT_PORT
t_wait_listen "$LAB_NS_HV2" $DEFAULT_PORT || t_fail "iperf3 server on $DEFAULT_PORT not listening"
auto="mgmt_reserve_mbps=auto migration_aggregate_mbps=auto migration_max_mbps=auto migration_min_mbps=auto"
# shellcheck disable=SC2086 # one key=value per word
t_config "$T_TMP/agent.conf" link_mbps=$LINK $auto
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"

class_line() { ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" classid "$1"; }
class_line 1:20 | grep -q 'rate 665Mbit ceil 950Mbit' ||
	t_fail "aggregate at the defaults is not rate 665 ceil 950: $(class_line 1:20)"
class_line 1:21 | grep -q 'ceil 950Mbit' ||
	t_fail "unattributed class at the defaults does not borrow up to the link: $(class_line 1:21)"

# lone_run SECONDS: one flow for WARMUP + SECONDS; the wire's L2 rate over
# SECONDS and the heartbeat over the same time, as JSON.
lone_run() {
	local pid hb got
	t_iperf_start 0 $((WARMUP + $1 + 1))
	pid=$T_LAST_PID
	sleep "$WARMUP"
	ip netns exec "$LAB_NS_MGR" timeout $(($1 + 10)) "$HB" client --connect "$LAB_HV1_IP" \
		--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$1" --json \
		>"$T_TMP/hb.json" &
	hb=$!
	got=$(t_l2_mbps "$1")
	wait "$hb"
	t_iperf_wait "$pid"
	jq -c --argjson m "$got" '. + {l2_mbps: $m}' "$T_TMP/hb.json"
}

lone=$(lone_run "$SECS")
t_log "defaults, one flow alone: $lone; class bytes: unattributed 1:21 $(t_class_bytes 21), mgmt 1:10 $(t_class_bytes 10)"
got=$(echo "$lone" | jq -r '.l2_mbps // empty')
missed=$(echo "$lone" | jq -r '.missed // empty')
[ -n "$got" ] && [ -n "$missed" ] || t_fail "no result from the lone run"
[ "$missed" -eq 0 ] || t_fail "$missed heartbeats missed while the migration borrowed the link"
t_num_gt "$(t_class_bytes 21)" 0 || t_fail "the flow did not go through the unattributed class 1:21"

# Next to default traffic: both flows for WARMUP + SECS + 1; each class's
# rate from its byte counter over SECS after WARMUP.
t_iperf_start 0 $((WARMUP + SECS + 1))
mig_pid=$T_LAST_PID
ip netns exec "$LAB_NS_HV1" timeout $((WARMUP + SECS + 15)) iperf3 -c "$LAB_HV2_IP" -p $DEFAULT_PORT \
	-t $((WARMUP + SECS + 1)) -C "$LAB_TCP_CC" --json >"$T_TMP/iperf-default.json" 2>&1 &
def_pid=$!
T_BG_PIDS+=("$def_pid")
sleep "$WARMUP"
t0=$(t_now_ns)
mig0=$(t_class_bytes 21)
def0=$(t_class_bytes 30)
sleep "$SECS"
t1=$(t_now_ns)
mig1=$(t_class_bytes 21)
def1=$(t_class_bytes 30)
t_iperf_wait "$mig_pid" "$def_pid"
class_mbps() { awk -v b="$(($2 - $1))" -v t="$((t1 - t0))" 'BEGIN { printf "%.2f", b * 8 * 1000 / t }'; }
shared_mig=$(class_mbps "$mig0" "$mig1")
shared_def=$(class_mbps "$def0" "$def1")
t_log "next to a default flow: migration 1:21 $shared_mig Mbit/s, default 1:30 $shared_def Mbit/s (L2, class counters)"
t_num_gt "$shared_def" 0 || t_fail "the default flow did not go through the default class 1:30"

# The hard cap, set by hand, on the same tree (SIGHUP reloads the file).
t_config "$T_TMP/agent.conf" link_mbps=$LINK $auto migration_aggregate_mbps=$CAP
kill -HUP "$T_AGENT_PID"
_capped() { class_line 1:20 | grep -q "rate ${CAP}Mbit ceil ${CAP}Mbit"; }
t_wait_until 10 _capped || t_fail "aggregate set to $CAP by hand is not a hard cap: $(class_line 1:20)"
capped=$(lone_run 5)
t_log "migration_aggregate_mbps=$CAP: $capped"
capped_mbps=$(echo "$capped" | jq -r '.l2_mbps // empty')
[ -n "$capped_mbps" ] || t_fail "no result from the capped run"

t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exited with $T_STOP_RC"

floor=$((LINK * 8 / 10))
t_num_gt "$got" "$floor" || t_fail_timing "one migration alone reached $got Mbit/s, below 0.8 x $LINK = $floor"
t_num_gt "$shared_def" $((LINK * 25 / 100)) ||
	t_fail_timing "default got $shared_def Mbit/s next to a migration, below 25% of $LINK: migrations borrowed first"
t_num_gt "$shared_mig" $((LINK * 50 / 100)) || t_fail_timing "the migration got $shared_mig Mbit/s next to default traffic"
t_num_le "$capped_mbps" $((CAP * 105 / 100)) || t_fail_timing "under the hard cap $CAP the flow reached $capped_mbps Mbit/s"
t_log "lone migration $got Mbit/s of link $LINK ($(awk -v a="$got" -v l=$LINK 'BEGIN { printf "%.3f", a / l }') x); hard cap $CAP: $capped_mbps Mbit/s"
t_log "PASS"
