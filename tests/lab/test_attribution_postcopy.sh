#!/usr/bin/env bash
# Post-copy (issue 12): once a migration switches to post-copy, QEMU sends at
# its post-copy bandwidth, and libvirt's pre-copy speed reads 4294967295
# MiB/s. The agent then reads and sets the post-copy bandwidth
# (VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY) to the allocation, and leaves the
# pre-copy speed alone instead of setting it again every cycle.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf=$T_TMP/agent.conf
log=$T_TMP/agent.log
# One migration: 200 Mbit/s, floor(200e6 * 0.93 / 8 / 2^20) = 22 MiB/s.
v_config "$conf" migration_ports=auto migration_aggregate_mbps=200 migration_max_mbps=200 migration_min_mbps=20
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to hv1's libvirtd"
# 20 MiB/s dirtied against 22 MiB/s: pre-copy would take a minute.
v_guest ms-p 20

V_MIG_LIMIT_S=90 v_migrate_bg ms-p --postcopy
mig=$T_LAST_PID
t_wait_log "$log" "ms-p: libvirt migration speed 22 MiB/s" 20 || t_fail "the pre-copy speed was never set"
virtlab_virsh hv1 migrate-postcopy ms-p >/dev/null || t_fail "migrate-postcopy refused"
t_wait_log "$log" "ms-p: libvirt post-copy bandwidth [0-9]* MiB/s" 10 ||
	t_fail "the post-copy bandwidth was not set: $(grep 'ms-p:' "$log" | tail -n 5)"
want=$(grep -o "ms-p: libvirt post-copy bandwidth [0-9]*" "$log" | tail -n 1 | awk '{ print $NF }')
got=$(virtlab_virsh hv1 migrate-getspeed --postcopy ms-p 2>/dev/null)
t_log "post-copy bandwidth: the agent set $want MiB/s, libvirt reads ${got:-nothing (the job ended)}"
[ -z "$got" ] || [ "$got" = "$want" ] || t_fail "libvirt's post-copy bandwidth is $got MiB/s, the agent set $want"
[ "$want" -le 22 ] || t_fail "post-copy bandwidth $want MiB/s above the allocation's 22"
wait "$mig" || t_fail "the migration failed: $(cat "$T_TMP/migrate-ms-p.log")"
t_wait_log "$log" "ms-p: outgoing migration completed" 10 || t_fail "completion not seen by the agent"
sets=$(grep -c "ms-p: libvirt migration speed" "$log")
t_log "$(grep -c 'ms-p: libvirt post-copy bandwidth' "$log") post-copy bandwidth settings, $sets pre-copy speed lines"
grep "ms-p: libvirt" "$log" | sed 's/^/  /'
grep -q "ms-p: libvirt migration speed back at libvirt's default" "$log" &&
	t_fail "the agent took libvirt's saturated pre-copy speed in post-copy for a manager's"
[ "$sets" -le 2 ] || t_fail "the pre-copy speed was set $sets times"
t_log "PASS"
