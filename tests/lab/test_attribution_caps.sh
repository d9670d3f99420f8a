#!/usr/bin/env bash
# QEMU runs as an unprivileged user (libvirt-qemu, as on Debian) and the
# agent holds only the shipped unit's capabilities (its
# CapabilityBoundingSet, applied with setpriv as systemd would): the
# migration is attributed. The same with CAP_SYS_PTRACE and
# CAP_DAC_READ_SEARCH removed: the migration is not attributed, and that is
# a warning in the log, the gauge migshaper_unattributed_migrations and the
# counter migshaper_errors_total{kind="attribution"}, never silence.
. "$(dirname "$0")/virtlib.sh"
for c in setpriv curl; do
	command -v "$c" >/dev/null || t_skip "$c is missing"
done
id libvirt-qemu >/dev/null 2>&1 || t_skip "no libvirt-qemu user (Debian's libvirt-daemon-system)"
v_setup

UNIT=$T_ROOT/scripts/migshaperd@.service
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
[ -n "$unit_caps" ] || t_fail "no CapabilityBoundingSet in $UNIT"
REAL_AGENT=$AGENT

# agent_under CAPS: AGENT becomes a wrapper that runs the agent with bounding
# set CAPS (space-separated CAP_ names), as systemd applies the unit's.
agent_under() {
	local set w=$T_TMP/agent-$RANDOM.sh
	set=$(echo "$1" | tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_\(.*\)/+\1/p' | paste -sd, -)
	printf '#!/bin/sh\nexec setpriv --inh-caps=-all --bounding-set=-all,%s -- %s "$@"\n' \
		"$set" "$REAL_AGENT" >"$w"
	chmod 755 "$w"
	AGENT=$w
}

metric() {
	ip netns exec "$LAB_NS_HV1" curl -sf --max-time 5 http://127.0.0.1:9465/metrics |
		awk -v n="$1" -v l="$2" 'index($0, n) == 1 && index($0, l) { print $NF; exit }'
}
_metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }

# QEMU as libvirt-qemu: it must reach the guest's image and serial file, and
# /dev/kvm as Debian's udev rule gives it (root:kvm 0660; this machine's
# is root's alone), put back at the end.
chmod 755 "$T_TMP"
KVM_WAS=$(stat -c '%a %g' /dev/kvm)
_caps_teardown() {
	_v_teardown
	chmod "${KVM_WAS% *}" /dev/kvm
	chgrp "${KVM_WAS#* }" /dev/kvm
}
T_TEARDOWN=_caps_teardown
chgrp kvm /dev/kvm && chmod 660 /dev/kvm || t_fail "cannot give group kvm /dev/kvm"
v_qemu_conf hv1 'user="libvirt-qemu"' 'group="kvm"' dynamic_ownership=1 ||
	t_fail "hv1's libvirtd did not come back with user libvirt-qemu"
v_guest ms-u 5
qemu_uid=$(ps -o uid= -p "$(pgrep -f 'guest=ms-u' | head -n 1)" | tr -d ' ')
t_log "QEMU of ms-u runs as uid $qemu_uid"
[ "$qemu_uid" = "$(id -u libvirt-qemu)" ] || t_fail "QEMU runs as uid '$qemu_uid', not libvirt-qemu"

conf=$T_TMP/agent.conf
v_config "$conf" migration_ports=auto migration_aggregate_mbps=400 migration_max_mbps=400 migration_min_mbps=50

# --- A: the unit's capabilities: attributed --------------------------------
agent_under "$unit_caps"
t_agent_start "$conf" "$T_TMP/agent-a.log" || t_fail "A: the agent did not start under the unit's capabilities"
t_wait_log "$T_TMP/agent-a.log" "libvirt: connected" 15 || t_fail "A: no libvirt connection"
grep CapBnd "/proc/$(pgrep -P "$T_AGENT_PID" -n || echo "$T_AGENT_PID")/status" 2>/dev/null | sed 's/^/[caps] /'
v_migrate_bg ms-u
t_wait_log "$T_TMP/agent-a.log" "ms-u: flow .* in class mig:" 30 ||
	t_fail "A: not attributed under the unit's capabilities: $(grep -i 'warn' "$T_TMP/agent-a.log" | tail -n 3)"
wait "$T_LAST_PID" || t_fail "A: the migration failed: $(cat "$T_TMP/migrate-ms-u.log")"
grep -q "cannot see its QEMU.s sockets" "$T_TMP/agent-a.log" && t_fail "A: the agent could not list QEMU's sockets"
t_log "A: attributed under $unit_caps"
t_agent_stop "$T_AGENT_PID"
v_migrate_home ms-u

# --- B: without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: said loudly ------------
agent_under "$(echo "$unit_caps" | tr ' ' '\n' | grep -v -e CAP_SYS_PTRACE -e CAP_DAC_READ_SEARCH | paste -sd' ' -)"
t_agent_start "$conf" "$T_TMP/agent-b.log" || t_fail "B: the agent did not start"
t_wait_log "$T_TMP/agent-b.log" "libvirt: connected" 15 || t_fail "B: no libvirt connection"
v_migrate_bg ms-u
mig=$T_LAST_PID
t_wait_log "$T_TMP/agent-b.log" "warn.*ms-u: cannot see its QEMU.s sockets.*CAP_SYS_PTRACE" 30 ||
	t_fail "B: no warning naming the missing capability"
t_wait_until 20 _metric_is migshaper_unattributed_migrations '' 1 ||
	t_fail "B: migshaper_unattributed_migrations is '$(metric migshaper_unattributed_migrations '')', want 1"
errs=$(metric migshaper_errors_total 'kind="attribution"')
t_log "B: unattributed_migrations 1, errors_total{kind=attribution} $errs; $(grep -m1 "ms-u: cannot see its QEMU" "$T_TMP/agent-b.log" | sed 's/.*warn: //')"
t_num_gt "${errs:-0}" 0 || t_fail "B: the attribution failures were not counted"
grep -q "ms-u: flow .* in class mig:" "$T_TMP/agent-b.log" && t_fail "B: attributed without the capabilities?"
wait "$mig" || t_fail "B: the migration failed: $(cat "$T_TMP/migrate-ms-u.log")"
t_log "PASS"
