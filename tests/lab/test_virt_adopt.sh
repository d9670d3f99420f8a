#!/usr/bin/env bash
# A migration that started while the agent was down is adopted at start-up:
# class and flow are put in place from the first scan, and the speed it was
# started with is its manager's ceiling.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
v_guest ms-ad 5
# Without the agent, libvirt paces it at 16 MiB/s: ~20 s for 256 MiB.
v_migrate_bg ms-ad --bandwidth 16
mig_pid=$T_LAST_PID
t_wait_until 20 sh -c "virsh -q -c '$V_HV1_URI' domjobinfo ms-ad 2>/dev/null | grep -q Unbounded" ||
	t_fail "the migration did not start"

# 200 Mbit/s for one migration: floor(200e6*0.93/8/2^20) = 22 MiB/s.
v_config "$conf" migration_aggregate_mbps=200 migration_max_mbps=200 migration_min_mbps=20
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "ms-ad: outgoing migration found; class mig:0" 10 || t_fail "not adopted"
t_wait_log "$log" "ms-ad: flow .* in class mig:0" 10 || t_fail "flow not attributed"
# The migration's own --bandwidth 16 was set by whoever started it (its
# manager): a ceiling, not an error. The agent keeps libvirt at 16 MiB/s
# rather than its 22, and the class shrinks to match: 16 MiB/s / 93 % =
# 144 Mbit/s.
t_wait_log "$log" "ms-ad: libvirt migration speed 16 MiB/s was set by its manager" 10 ||
	t_fail "the migration's own speed was not taken as its manager's"
t_wait_log "$log" "ms-ad: class mig:0 rate 144 Mbit/s" 5 || t_fail "class rate $(v_class_rate 100), want 144 Mbit/s"
speed=$(virtlab_virsh hv1 migrate-getspeed ms-ad)
t_log "adopted: class 1:100 rate $(v_class_rate 100), libvirt speed $speed MiB/s"
[ "$speed" = 16 ] || t_fail "libvirt speed '$speed', want the manager's 16"
wait "$mig_pid" || t_fail "migration failed: $(cat "$T_TMP/migrate-ms-ad.log")"
t_wait_log "$log" "ms-ad: outgoing migration completed" 10 || t_fail "completion not seen"
t_wait_until 10 v_mig_classes_are 0 || t_fail "class not freed"
t_log "PASS"
