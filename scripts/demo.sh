#!/usr/bin/env bash
# `make demo`: brings the namespace lab up, runs the management scenario three
# times (idle; 4 migration flows without the agent; the same with the agent),
# then kills the agent with SIGKILL under the same load and starts it again
# (shaping goes on while it is dead; the new agent adopts the tree), prints a
# comparison table, draws plots of the first three runs, and takes the lab
# down.
#
# What it shows is what exists so far: the agent's HTB tree and eBPF
# classifier on hv1's uplink. The "migrations" are iperf3 flows on migration
# ports (49152-49215), so they land in the unattributed migration class 1:21;
# there is no libvirt attribution (per-migration classes 1:100+) here.
#
# During each run the demo records, every 0.5 s, the wire's byte counter (its
# TBF, i.e. L2 frames as a NIC sends them) and hv1's HTB class counters (same
# unit), each flow's iperf3 sender rate (payload) and every heartbeat's RTT
# (heartbeat --trace). scripts/plot.sh turns them into
#   tests/bench/out/demo-throughput.png  throughput per class/flow over time
#   tests/bench/out/demo-rtt.png         management RTT over time
# (copied to docs/images/ for the README); the raw data stay in
# tests/bench/out/demo/. DEMO_SECS (default 15) sets each run's length; the
# whole demo takes about a minute and a half.
. "$(dirname "$0")/../tests/lab/lib.sh"

SECS=${DEMO_SECS:-15}
NFLOWS=4
# Flows run this long before the heartbeat starts (out of slow start).
WARM=2
SAMPLE_S=0.5
# migration_aggregate_mbps with the agent.
CAP=850
DATA=$T_ROOT/tests/bench/out/demo
PNG_DIR=$T_ROOT/tests/bench/out
DOC_DIR=$T_ROOT/docs/images
# shellcheck disable=SC2034 # used by the t_* helpers
T_NAME=demo

have_agent=1
[ -x "$AGENT" ] || have_agent=0
t_setup
rm -rf "$DATA"
mkdir -p "$DATA"
echo
echo "migshaper demo: hv1's uplink is a ${LAB_WIRE_MBIT} Mbit/s wire with a ${LAB_WIRE_QUEUE_PKTS}-packet FIFO."
echo "Management: mgr polls hv1 over TCP port $T_MGMT_PORT, 10 requests/s, 1 s timeout."
echo "Migrations: $NFLOWS iperf3 flows hv1 -> hv2 on ports $T_MIG_PORT0-$((T_MIG_PORT0 + NFLOWS - 1)), ${SECS} s per run."
echo
t_iperf_servers $NFLOWS
t_hb_server

# sample_loop T0_NS: every SAMPLE_S prints "t_s wire_bytes c10 c20 c21 c30"
# (t_s since T0_NS; class bytes 0 while a class does not exist) until killed,
# or until the lab is gone (the demo was interrupted). The time stamp is the
# middle of the two reads, which take a few ms.
sample_loop() {
	local t0=$1 a c wire cls
	while [ -e "/run/netns/$LAB_NS_WIRE" ]; do
		a=$(t_now_ns)
		wire=$(ip netns exec "$LAB_NS_WIRE" tc -s qdisc show dev "$LAB_WIRE_OUT" |
			awk '$1 == "Sent" { print $2; exit }')
		cls=$(ip netns exec "$LAB_NS_HV1" tc -s class show dev "$LAB_HV1_IF" 2>/dev/null |
			awk '$1 == "class" { cur = $3 } $1 == "Sent" { b[cur] = $2 }
				END { printf "%d %d %d %d", b["1:10"], b["1:20"], b["1:21"], b["1:30"] }')
		c=$(t_now_ns)
		echo "$(((a + c) / 2 - t0)) ${wire:-0} $cls" |
			awk '{ $1 = sprintf("%.3f", $1 / 1e9); print }'
		sleep "$SAMPLE_S"
	done
}

# run_scenario NAME: NFLOWS flows for WARM + SECS + 1 s, the heartbeat for
# SECS s starting after WARM s, the sampler throughout. Prints the heartbeat
# JSON with "mig_mbps" (all flows' goodput) added, like t_mig_scenario; the
# series go to $DATA/NAME.*.
run_scenario() {
	local name=$1 t0 i port pids=() spid hb_off hb total
	t0=$(t_now_ns)
	sample_loop "$t0" >"$DATA/$name.samples" 2>/dev/null &
	spid=$!
	T_BG_PIDS+=("$spid")
	for ((i = 0; i < NFLOWS; i++)); do
		port=$((T_MIG_PORT0 + i))
		ip netns exec "$LAB_NS_HV1" timeout $((WARM + SECS + 16)) iperf3 -c "$LAB_HV2_IP" \
			-p "$port" -t $((WARM + SECS + 1)) -i "$SAMPLE_S" -C "$LAB_TCP_CC" --json \
			>"$T_TMP/iperf-$i.json" 2>"$T_TMP/iperf-$i.err" &
		pids+=("$!")
		T_BG_PIDS+=("$!")
	done
	sleep "$WARM"
	hb_off=$(awk -v a="$(t_now_ns)" -v b="$t0" 'BEGIN { printf "%.3f", (a - b) / 1e9 }')
	hb=$(ip netns exec "$LAB_NS_MGR" timeout $((SECS + 10)) "$HB" client --connect "$LAB_HV1_IP" \
		--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$SECS" --json \
		--trace "$T_TMP/hb.trace")
	t_iperf_wait "${pids[@]}"
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	# Heartbeat trace on the flows' time axis: "t_s rtt_ms state".
	awk -v off="$hb_off" '!/^#/ { printf "%.3f %s %s\n", $2 + off, $3, $4 }' \
		"$T_TMP/hb.trace" >"$DATA/$name.rtt"
	total=0
	for ((i = 0; i < NFLOWS; i++)); do
		# iperf3's sender intervals: "t_mid_s mbit_s" (t from the flow's start,
		# which is within a few ms of t0).
		jq -r '.intervals[] | .sum | "\((.start + .end) / 2) \(.bits_per_second / 1e6)"' \
			"$T_TMP/iperf-$i.json" >"$DATA/$name.flow$i" 2>/dev/null
		total=$(awk -v a="$total" -v b="$(t_iperf_mbps "$i")" 'BEGIN { printf "%.1f", a + b }')
	done
	[ -n "$hb" ] || hb='{}'
	echo "$hb" | jq -c --argjson m "$total" '. + {mig_mbps: $m}'
}

t_log "1/4 idle (${SECS} s)"
ip netns exec "$LAB_NS_MGR" timeout $((SECS + 10)) "$HB" client --connect "$LAB_HV1_IP" \
	--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$SECS" --json \
	--trace "$T_TMP/hb.trace" >"$T_TMP/idle.json"
idle=$(cat "$T_TMP/idle.json")
awk -v off="$WARM" '!/^#/ { printf "%.3f %s %s\n", $2 + off, $3, $4 }' "$T_TMP/hb.trace" \
	>"$DATA/idle.rtt"
t_log "2/4 migrations, no agent (${SECS} s)"
without=$(run_scenario without)
wire_drops=$(ip netns exec "$LAB_NS_WIRE" tc -s -j qdisc show dev "$LAB_WIRE_OUT" | jq '.[0].drops')

# fail_static_step: under the same load, kill -9 the agent and keep the
# heartbeat going while it is dead, then start it again: it adopts the tree.
# Prints the heartbeat JSON of the dead period with "adopted" added; the
# restarted agent's pid is in T_AGENT_PID.
fail_static_step() {
	local i pids=() hb adopted=no total=0
	t_log "4/4 the agent is killed (kill -9) under load and started again" >&2
	for ((i = 0; i < NFLOWS; i++)); do
		t_iperf_start "$i" $((SECS / 2 + 2))
		pids+=("$T_LAST_PID")
	done
	sleep "$WARM"
	kill -KILL "$T_AGENT_PID"
	wait "$T_AGENT_PID" 2>/dev/null
	T_AGENT_PID=
	hb=$(t_hb_run $((SECS / 2)))
	t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent-restarted.log" &&
		grep -q "adopted the tree in place" "$T_TMP/agent-restarted.log" && adopted=yes
	t_iperf_wait "${pids[@]}"
	for ((i = 0; i < NFLOWS; i++)); do
		total=$(awk -v a="$total" -v b="$(t_iperf_mbps "$i")" 'BEGIN { printf "%.1f", a + b }')
	done
	echo "$hb" | jq -c --arg a "$adopted" --argjson m "$total" '. + {adopted: $a, mig_mbps: $m}'
}

with='{}'
killed='{}'
classes=()
if [ $have_agent -eq 1 ]; then
	t_log "3/4 migrations, agent running (${SECS} s)"
	t_config "$T_TMP/agent.conf" migration_aggregate_mbps=$CAP migration_max_mbps=$CAP
	if t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log"; then
		declare -A b0
		for m in 10 20 21 30; do b0[$m]=$(t_class_bytes $m); done
		with=$(run_scenario with)
		for m in 10 20 21 30; do
			classes+=("$m $(($(t_class_bytes $m) - ${b0[$m]}))")
		done
		nflows=$(grep -c 'unattributed migration flow' "$T_TMP/agent.log")
		# Not in $(...): the restarted agent's pid must reach this shell.
		fail_static_step >"$T_TMP/killed.json"
		killed=$(cat "$T_TMP/killed.json")
		t_agent_stop "$T_AGENT_PID"
	else
		t_log "the agent did not get ready; its log:"
		tail -n 20 "$T_TMP/agent.log"
	fi
else
	t_log "3/4 and 4/4 skipped: $AGENT is not built yet"
fi

get() { echo "$1" | jq -r ".$2 // \"-\""; }
echo
echo "Heartbeat RTT in ms; migration goodput in Mbit/s (iperf3, all flows)."
printf '%-40s %8s %8s %10s %10s %10s %14s\n' scenario sent missed p50_ms p99_ms max_ms "migr. goodput"
printf '%-40s %8s %8s %10s %10s %10s %14s\n' "idle" "$(get "$idle" sent)" "$(get "$idle" missed)" \
	"$(get "$idle" p50_ms)" "$(get "$idle" p99_ms)" "$(get "$idle" max_ms)" "-"
for row in "without agent:$without" "with agent:$with" "agent killed (kill -9):$killed"; do
	name=${row%%:*}
	j=${row#*:}
	printf '%-40s %8s %8s %10s %10s %10s %14s\n' "migrations, $name" "$(get "$j" sent)" \
		"$(get "$j" missed)" "$(get "$j" p50_ms)" "$(get "$j" p99_ms)" "$(get "$j" max_ms)" \
		"$(get "$j" mig_mbps)"
done
echo
echo "Without the agent the wire's FIFO dropped $wire_drops packets."
if [ ${#classes[@]} -gt 0 ]; then
	echo "With the agent, bytes per HTB class on hv1's uplink during the run:"
	for c in "${classes[@]}"; do
		m=${c%% *}
		case $m in
		10) name="management (guaranteed reserve, top priority)" ;;
		20) name="migration aggregate (cap)" ;;
		21) name="unattributed migrations (the iperf3 flows)" ;;
		30) name="default (everything else)" ;;
		esac
		printf '  1:%-3s %14s bytes  %s\n' "$m" "${c#* }" "$name"
	done
	echo "  The agent logged $nflows 'unattributed migration flow' lines (it reports a"
	echo "  still-unattributed flow again every report interval; iperf3 also has a control flow)."
fi
if [ "$killed" != '{}' ]; then
	echo "While the agent was dead its pinned classifier and HTB tree kept shaping; the restarted"
	echo "agent adopted them in place (no class deleted or re-created): $(get "$killed" adopted)."
fi
echo
echo "Not shown yet: libvirt attribution (per-migration classes), so every migration flow shares 1:21."
echo
if DEMO_SECS=$SECS DEMO_WARM=$WARM DEMO_CAP=$CAP bash "$T_ROOT/scripts/plot.sh" "$DATA" "$PNG_DIR"; then
	mkdir -p "$DOC_DIR"
	cp "$PNG_DIR/demo-throughput.png" "$PNG_DIR/demo-rtt.png" "$DOC_DIR/"
	echo "Plots: $PNG_DIR/demo-throughput.png, $PNG_DIR/demo-rtt.png (copied to docs/images/);"
	echo "data: $DATA/"
else
	echo "No plots (see above); data: $DATA/"
fi
