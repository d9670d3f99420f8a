#!/usr/bin/env bash
# A max downtime the manager raised is never lowered (vdsm's DowntimeThread,
# Nova's downtime steps): the manager sets 2000 ms on a migration that cannot
# converge; the agent, escalating (escalation on, act), notices it, never
# sets less (libvirt's value sampled all along), and issues no post-copy,
# suspend or abort for that migration, whose manager has acted on it.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
# 45 MiB/s over 64 MiB at 22 MiB/s of stream: the dirty set takes ~2.9 s to
# send, so neither QEMU's 300 ms nor the manager's 2000 ms lets it converge.
# The policy steps 300, 1300 (below the manager's: not set), 2300, 3000 ms,
# then would try post-copy, suspend and abort.
v_guest ms-dt2 45 --end-mib 65
v_config "$conf" migration_aggregate_mbps=200 migration_max_mbps=200 migration_min_mbps=20 \
	policy=srpt escalation=1 max_downtime_ms=3000 downtime_step_ms=1000 \
	escalation_interval_ms=2000 suspend_allowed=1 migration_progress_timeout_s=10
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"

v_migrate_bg ms-dt2
mig_pid=$T_LAST_PID
t_wait_until 20 sh -c "virsh -q -c '$V_HV1_URI' domjobinfo ms-dt2 2>/dev/null | grep -q Unbounded" ||
	t_fail "the migration did not start"
virtlab_virsh hv1 migrate-setmaxdowntime ms-dt2 2000 || t_fail "migrate-setmaxdowntime"
t_wait_log "$log" "ms-dt2: max downtime 2000 ms was set by its manager" 15 ||
	t_fail "the manager's downtime was not noticed: $(grep ms-dt2 "$log" | tail -5)"

# Samples while the policy escalates (a step every 2 s once stalled).
min=999999
n=0
for _ in $(seq 1 160); do
	_t_gone "$mig_pid" && break
	d=$(virtlab_virsh hv1 migrate-getmaxdowntime ms-dt2 2>/dev/null) || continue
	[ -n "$d" ] || continue
	n=$((n + 1))
	[ "$d" -lt "$min" ] && min=$d
	sleep 0.25
done
t_log "max downtime: $n samples, lowest $min ms"
[ "$n" -ge 5 ] || t_fail "only $n downtime samples"
[ "$min" -ge 2000 ] || t_fail "the agent lowered the manager's 2000 ms to $min"
grep -q "ms-dt2: \(postcopy\|suspend\|abort\) (" "$log" &&
	t_fail "the agent escalated a migration its manager acted on: $(grep 'ms-dt2: \(postcopy\|suspend\|abort\) (' "$log")"
grep "ms-dt2: \(max downtime\|no \)" "$log" | sed 's/.*info: /  /'
# The policy did escalate while the manager held the downtime.
grep -q "ms-dt2: \(max downtime [23][0-9][0-9][0-9] ms (\|no \(postcopy\|suspend\|abort\) (\)" "$log" ||
	t_fail "the policy never escalated: the scenario proves nothing"
virtlab_virsh hv1 domjobabort ms-dt2 >/dev/null 2>&1
wait "$mig_pid"
t_log "PASS"
