#!/usr/bin/env bash
# `make demo`: brings the namespace lab up, runs the management scenario three
# times (idle; 4 migration flows without the agent; the same with the agent),
# prints a comparison table, and takes the lab down.
#
# What it shows is what exists so far: the agent's HTB tree and eBPF
# classifier on hv1's uplink. The "migrations" are iperf3 flows on migration
# ports (49152-49215), so they land in the unattributed migration class 1:21;
# there is no libvirt attribution (per-migration classes 1:100+) yet.
# DEMO_SECS (default 15) sets each run's length.
. "$(dirname "$0")/../tests/lab/lib.sh"

SECS=${DEMO_SECS:-15}
NFLOWS=4
# shellcheck disable=SC2034 # used by the t_* helpers
T_NAME=demo

have_agent=1
[ -x "$AGENT" ] || have_agent=0
t_setup
echo
echo "migshaper demo: hv1's uplink is a ${LAB_WIRE_MBIT} Mbit/s wire with a ${LAB_WIRE_QUEUE_PKTS}-packet FIFO."
echo "Management: mgr polls hv1 over TCP port $T_MGMT_PORT, 10 requests/s, 1 s timeout."
echo "Migrations: $NFLOWS iperf3 flows hv1 -> hv2 on ports $T_MIG_PORT0-$((T_MIG_PORT0 + NFLOWS - 1)), ${SECS} s per run."
echo
t_iperf_servers $NFLOWS
t_hb_server

t_log "1/3 idle (${SECS} s)"
idle=$(t_hb_run "$SECS")
t_log "2/3 migrations, no agent (${SECS} s)"
without=$(t_mig_scenario "$SECS" $NFLOWS)
wire_drops=$(ip netns exec "$LAB_NS_WIRE" tc -s -j qdisc show dev "$LAB_WIRE_OUT" | jq '.[0].drops')

with='{}'
classes=()
if [ $have_agent -eq 1 ]; then
	t_log "3/3 migrations, agent running (${SECS} s)"
	t_config "$T_TMP/agent.conf" migration_aggregate_mbps=850 migration_max_mbps=850
	if t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log"; then
		declare -A b0
		for m in 10 20 21 30; do b0[$m]=$(t_class_bytes $m); done
		with=$(t_mig_scenario "$SECS" $NFLOWS)
		for m in 10 20 21 30; do
			classes+=("$m $(($(t_class_bytes $m) - ${b0[$m]}))")
		done
		nflows=$(grep -c 'new unattributed migration flow' "$T_TMP/agent.log")
		t_agent_stop "$T_AGENT_PID"
	else
		t_log "the agent did not get ready; its log:"
		tail -n 20 "$T_TMP/agent.log"
	fi
else
	t_log "3/3 skipped: $AGENT is not built yet"
fi

get() { echo "$1" | jq -r ".$2 // \"-\""; }
echo
echo "Heartbeat RTT in ms; migration goodput in Mbit/s (iperf3, all flows)."
printf '%-26s %8s %8s %10s %10s %10s %14s\n' scenario sent missed p50_ms p99_ms max_ms "migr. goodput"
printf '%-26s %8s %8s %10s %10s %10s %14s\n' "idle" "$(get "$idle" sent)" "$(get "$idle" missed)" \
	"$(get "$idle" p50_ms)" "$(get "$idle" p99_ms)" "$(get "$idle" max_ms)" "-"
for row in "without agent:$without" "with agent:$with"; do
	name=${row%%:*}
	j=${row#*:}
	printf '%-26s %8s %8s %10s %10s %10s %14s\n' "migrations, $name" "$(get "$j" sent)" \
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
	echo "  The agent logged $nflows 'new unattributed migration flow' lines (it reports a"
	echo "  still-unattributed flow again every report interval; iperf3 also has a control flow)."
fi
echo
echo "Not shown yet: libvirt attribution (per-migration classes), so every migration flow shares 1:21."
