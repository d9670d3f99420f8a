#!/usr/bin/env bash
# escalation = advise (the default) and a clean stop, with real migrations:
#  - two guests that cannot converge (45 MiB/s dirtied over 64 MiB, more than
#    their share can send) migrate; ms-free at libvirt's default speed,
#    ms-mgr at the 30 MiB/s "its manager" gave (virsh --bandwidth 30). The
#    agent sets both to their share (below 30);
#  - each stalls: the stall event is in the knob tree (stall_event,
#    stall_events) and in `migshaperctl watch`, and nothing is done to the
#    migration (max downtime still QEMU's 300 ms, both still migrating);
#  - SIGTERM: the speeds the agent set are put back, ms-free's to libvirt's
#    default and ms-mgr's to the manager's 30 MiB/s, while both still run
#    (the wire slowed to 100 Mbit/s so that neither can converge then);
#  - the idle management RTT the agent learned is kept: a restarted agent
#    starts from it, and one that finds a damaged baseline file says so and
#    learns afresh.
. "$(dirname "$0")/virtlib.sh"
v_setup

CTL=${CTL:-$T_ROOT/$BUILD/migshaperctl}
conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
K=$T_TMP/run/$LAB_HV1_IF
LIBVIRT_DEFAULT_MIBS=8796093022207
# 200 Mbit/s each under fair: floor(200e6 * 0.93 / 8 / 2^20) = 22 MiB/s.
v_config "$conf" migration_aggregate_mbps=400 migration_max_mbps=400 migration_min_mbps=20 policy=fair
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
grep -q "escalation *= *" "$conf" && t_fail "the test must run with the default escalation"
# An idle baseline to learn: management connections before any migration.
t_hb_server
t_hb_run 4 >"$T_TMP/hb.json" || t_fail "heartbeat"
V_MEM_MIB=128 v_guest ms-free 45 --end-mib 65
V_MEM_MIB=128 v_guest ms-mgr 45 --end-mib 65

V_MIG_LIMIT_S=300 v_migrate_bg ms-free
free_pid=$T_LAST_PID
V_MIG_LIMIT_S=300 v_migrate_bg ms-mgr --bandwidth 30
mgr_pid=$T_LAST_PID
for g in ms-free ms-mgr; do
	t_wait_log "$log" "$g: libvirt migration speed [0-9]* MiB/s$" 30 ||
		t_fail "$g: the agent set no speed: $(grep "$g" "$log" | tail -3)"
done
free_speed=$(virtlab_virsh hv1 migrate-getspeed ms-free)
mgr_speed=$(virtlab_virsh hv1 migrate-getspeed ms-mgr)
t_log "speeds the agent set: ms-free $free_speed, ms-mgr $mgr_speed MiB/s"
{ [ "$free_speed" -lt 30 ] && [ "$mgr_speed" -lt 30 ]; } ||
	t_fail "the agent's speeds ($free_speed, $mgr_speed) are not below the manager's 30: the restore proves nothing"

# The stall event, in the knob tree and in watch; no action taken.
for g in ms-free ms-mgr; do
	t_wait_log "$log" "$g: stall event" 120 || t_fail "$g: no stall event: $(grep "$g" "$log" | tail -3)"
	ev=$(cat "$K/migrations/$g/stall_event")
	n=$(cat "$K/migrations/$g/stall_events")
	[[ "$ev" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || t_fail "$g: knob tree stall_event '$ev', stall_events '$n'"
done
"$CTL" --root "$T_TMP/run" watch --count 1 >"$T_TMP/watch.out" 2>&1 || t_fail "watch: $(cat "$T_TMP/watch.out")"
grep -q "^STALL EVENTS" "$T_TMP/watch.out" || t_fail "watch shows no stall events: $(cat "$T_TMP/watch.out")"
for g in ms-free ms-mgr; do
	grep -q "^$g: stalled at .*advised: " "$T_TMP/watch.out" || t_fail "watch does not show $g's stall: $(cat "$T_TMP/watch.out")"
done
sed -n '/^STALL EVENTS/,/^$/p' "$T_TMP/watch.out" | sed 's/^/  /'
for g in ms-free ms-mgr; do
	d=$(virtlab_virsh hv1 migrate-getmaxdowntime "$g")
	[ "$d" -eq 300 ] || t_fail "$g: max downtime $d ms: escalation = advise changed it"
	virtlab_virsh hv1 domjobinfo "$g" | grep -q Unbounded || t_fail "$g no longer migrates: advise acted on it"
done
grep -q "would \(raise_downtime\|postcopy\|suspend\|abort\)" "$log" && t_log "advised: $(grep -o 'would [a-z_]*' "$log" | sort | uniq -c | tr '\n' ' ')"

# Clean stop: the speeds go back while the migrations still run. The wire
# slows to 100 Mbit/s first: at libvirt's default speed ms-free would
# otherwise converge within a second of the restore (the 1 Gbit wire sends
# more than it dirties) and be gone before its speed could be read.
lab_wire_set 100 || t_fail "cannot slow the wire"
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exit status $T_STOP_RC"
free_after=$(virtlab_virsh hv1 migrate-getspeed ms-free)
mgr_after=$(virtlab_virsh hv1 migrate-getspeed ms-mgr)
virtlab_virsh hv1 domjobinfo ms-free | grep -q Unbounded || t_fail "ms-free ended before the check"
t_log "after SIGTERM: ms-free $free_after, ms-mgr $mgr_after MiB/s"
[ "$free_after" = "$LIBVIRT_DEFAULT_MIBS" ] || t_fail "ms-free left at $free_after MiB/s, not libvirt's default"
[ "$mgr_after" = 30 ] || t_fail "ms-mgr left at $mgr_after MiB/s, not its manager's 30"
for g in ms-free ms-mgr; do virtlab_virsh hv1 domjobabort "$g" >/dev/null 2>&1; done
wait "$free_pid" "$mgr_pid" 2>/dev/null
lab_wire_set "$LAB_WIRE_MBIT" || t_fail "cannot put the wire back"

# The baseline survives the stop; a restarted agent starts from it.
base="$T_TMP/run/$LAB_HV1_IF.baseline"
[ -s "$base" ] || t_fail "no baseline file after a clean stop"
us=$(sed -n 's/^rtt_us //p' "$base")
log2="$T_TMP/agent2.log"
t_agent_start "$conf" "$log2" || t_fail "the restarted agent did not get ready"
grep -q "idle management RTT baseline $us us, kept from the previous agent" "$log2" ||
	t_fail "the restarted agent did not take the baseline $us us: $(grep -i baseline "$log2")"
t_agent_stop "$T_AGENT_PID"
printf 'migshaper-baseline 9\nrtt_us 80\n' >"$base"
log3="$T_TMP/agent3.log"
t_agent_start "$conf" "$log3" || t_fail "an agent with a damaged baseline file did not start"
grep -q "$base: not a valid migshaper baseline file.*learning the idle management RTT afresh" "$log3" ||
	t_fail "a damaged baseline file was not reported: $(grep -i baseline "$log3")"
t_log "baseline $us us kept across a restart; a damaged file reported and ignored"
t_log "PASS"
