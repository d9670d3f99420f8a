#!/usr/bin/env bash
# libvirtd on hv1 is killed (SIGKILL) in the middle of a migration and started
# again. While it is down the agent keeps the migration's class and flows
# (shaping goes on); it reconnects with back-off, re-reads the jobs and then
# follows what libvirt reports, without re-creating the class of a migration
# that is still running.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
PIN="/sys/fs/bpf/migshaper/$LAB_HV1_IF"
flows() { bpftool -j map dump pinned "$PIN/ms_flows" 2>/dev/null | jq length; }

# 80 Mbit/s: the 256 MiB guest needs ~30 s, time enough to restart the daemon.
v_config "$conf" migration_aggregate_mbps=80 migration_max_mbps=80 migration_min_mbps=10
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
v_guest ms-rs 5
v_migrate_bg ms-rs
t_wait_log "$log" "ms-rs: flow .* in class mig:0" 20 || t_fail "flow never attributed"
bytes0=$(v_class_bytes 100)

virtlab_daemon_stop hv1 KILL
t_wait_log "$log" "keeping the classes of 1 outgoing" 20 || t_fail "agent did not notice the disconnection"
sleep 2
rate=$(v_class_rate 100)
bytes1=$(v_class_bytes 100)
nflows=$(flows)
t_log "libvirtd down: class 1:100 rate $rate, bytes $bytes0 -> $bytes1, flows $nflows"
[ "$rate" = 80Mbit ] || t_fail "the class changed or vanished while libvirtd was down"
[ "$nflows" -ge 1 ] || t_fail "the flow entry vanished while libvirtd was down"
[ "$bytes1" -gt "$bytes0" ] || t_fail "no migration traffic in the class while libvirtd was down"

virtlab_daemon_start "$LAB_NS_HV1" hv1 || t_fail "libvirtd did not restart"
t_wait_until 40 v_log_count_ge "$log" 'libvirt: connected' 2 || t_fail "agent did not reconnect"
t_log "reconnected: $(grep 'libvirt: connected' "$log" | tail -n 1 | sed 's/.*info: //')"

# Whatever libvirt did with the job (it may cancel an outgoing migration that
# its restart interrupted), the agent must end up agreeing with it.
t_wait_until 60 grep -q "ms-rs: outgoing migration \(completed\|failed\|cancelled\)" "$log" ||
	t_fail "the agent never saw the migration end"
outcome=$(grep -o "ms-rs: outgoing migration [a-z]*" "$log" | tail -n 1 | awk '{print $4}')
t_log "migration $outcome; libvirt on hv1 says: $(virtlab_virsh hv1 domstate ms-rs 2>&1)"
found=$(grep -c "ms-rs: outgoing migration found" "$log")
[ "$found" -eq 1 ] || t_fail "the migration was found $found times: its class was re-created"
t_wait_until 10 v_mig_classes_are 0 || t_fail "class not freed after the end"
[ "$(flows)" -eq 0 ] || t_fail "flow entries left after the end"
t_log "PASS"
