#!/usr/bin/env bash
# One real live migration (libvirt + QEMU/KVM) with the agent on hv1: the
# stream's bytes land in the domain's own class, not in unattributed or
# default; libvirt's speed read back equals the allocation; the migration
# completes; no management heartbeat is missed.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
# One migration gets min(max, aggregate / 1) = 400 Mbit/s, which libvirt gets
# as floor(400e6 * 0.93 / 8 / 2^20) = 44 MiB/s.
v_config "$conf" migration_aggregate_mbps=400 migration_max_mbps=400 migration_min_mbps=20
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to hv1's libvirtd"
t_hb_server
v_guest ms-one 5

unattr_before=$(v_class_bytes 21)
default_before=$(v_class_bytes 30)
t_hb_run 25 >"$T_TMP/hb.json" &
hb_pid=$!
v_migrate_bg ms-one
mig_pid=$T_LAST_PID

t_wait_log "$log" "ms-one: flow .* in class mig:0" 20 || t_fail "the migration flow was never attributed"
speed=$(virtlab_virsh hv1 migrate-getspeed ms-one)
rate=$(v_class_rate 100)
t_log "class 1:100 rate $rate, libvirt speed $speed MiB/s"
[ "$rate" = "400Mbit" ] || t_fail "class 1:100 rate is '$rate', want 400Mbit"
[ "$speed" = 44 ] || t_fail "libvirt speed is '$speed', want 44 MiB/s"

class_bytes=0
while ! _t_gone "$mig_pid"; do
	b=$(v_class_bytes 100)
	[ -n "$b" ] && class_bytes=$b
	sleep 0.2
done
wait "$mig_pid" || t_fail "virsh migrate failed: $(cat "$T_TMP/migrate-ms-one.log")"
[ "$(virtlab_virsh hv2 domstate ms-one)" = running ] || t_fail "ms-one is not running on hv2"
t_wait_log "$log" "ms-one: outgoing migration completed" 10 || t_fail "completion not seen by the agent"
t_wait_until 10 v_mig_classes_are 0 || t_fail "the migration's class was not freed"

unattr=$(($(v_class_bytes 21) - unattr_before))
default=$(($(v_class_bytes 30) - default_before))
t_log "bytes: migration class $class_bytes, unattributed +$unattr, default +$default"
t_log "$(grep 'ms-one: outgoing migration completed' "$log" | sed 's/.*info: //')"
# The guest's warm-up wrote every page from 1 to 255 MiB: the stream carries them all.
[ "$class_bytes" -gt $((200 * 1048576)) ] || t_fail "only $class_bytes bytes went through the migration's class"
[ "$unattr" -lt $((class_bytes / 50)) ] || t_fail "$unattr bytes went to unattributed (> 2%)"
[ "$default" -lt $((class_bytes / 50)) ] || t_fail "$default bytes went to default (> 2%)"

wait "$hb_pid"
missed=$(jq .missed "$T_TMP/hb.json")
t_log "heartbeat: $(cat "$T_TMP/hb.json")"
[ "$missed" = 0 ] || t_fail "$missed heartbeats missed during the migration"
t_log "PASS"
