# shellcheck shell=bash
# Helpers for the libvirt lab tests: the namespace lab of lib.sh plus a real
# libvirtd on hv1 and on hv2 (scripts/virtlab-lib.sh), and the test guest.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VIRTLAB_DIR=${VIRTLAB_DIR:-/tmp/$LAB_PREFIX-virtlab}
# shellcheck source=scripts/virtlab-lib.sh
. "$T_ROOT/scripts/virtlab-lib.sh"

V_HOSTS=$(printf '%s hv1\n%s hv2' "$LAB_HV1_IP" "$LAB_HV2_IP")
V_HV1_URI=$(virtlab_uri hv1)
V_GUEST_MIB=256

# The libvirt daemons and their guests, taken down by t_cleanup after the agent.
_v_teardown() {
	virtlab_host_down "$LAB_NS_HV1" hv1
	virtlab_host_down "$LAB_NS_HV2" hv2
}

# v_setup: the lab, both libvirt daemons and the built tools; 77 when the
# machine cannot run QEMU/KVM or libvirt.
v_setup() {
	local c
	for c in libvirtd virsh qemu-system-x86_64 nasm; do
		command -v "$c" >/dev/null || t_skip "$c is not installed (make deps)"
	done
	[ -c /dev/kvm ] || t_skip "/dev/kvm is missing"
	t_setup need_agent
	T_TEARDOWN=_v_teardown
	virtlab_host_up "$LAB_NS_HV1" hv1 "$LAB_HV1_IP" "$V_HOSTS" || t_fail "libvirtd on hv1 did not start"
	virtlab_host_up "$LAB_NS_HV2" hv2 "$LAB_HV2_IP" "$V_HOSTS" || t_fail "libvirtd on hv2 did not start"
}

# v_config FILE [key=value...]: t_config plus the hv1 libvirt URI. Every
# key=value is also appended, so keys t_config does not know get through
# (the agent's parser keeps the last value of a key).
v_config() {
	local file=$1 kv
	shift
	t_config "$file" "$@"
	echo "libvirt_uri = $V_HV1_URI" >>"$file"
	for kv in "$@"; do
		echo "${kv%%=*} = ${kv#*=}" >>"$file"
	done
}

# v_guest NAME DIRTY_MIBS [mkimage options]: defines and starts a guest on
# hv1, waits for its warm-up to finish (the guest prints a line "R").
v_guest() {
	local name=$1 rate=$2
	shift 2
	local img="$T_TMP/guest-$rate$(printf '%s' "$*" | tr -c 'a-z0-9' '_').img"
	[ -f "$img" ] || BUILD=$BUILD bash "$T_ROOT/tests/guest/mkimage.sh" "$img" --dirty-mibs "$rate" \
		"$@" 2>/dev/null || t_fail "cannot build the guest image"
	bash "$T_ROOT/tests/guest/mkdomain.sh" "$name" "$img" "$T_TMP/$name.serial" >"$T_TMP/$name.xml"
	virtlab_virsh hv1 define "$T_TMP/$name.xml" >/dev/null || t_fail "define $name"
	virtlab_virsh hv1 start "$name" >/dev/null || t_fail "start $name"
	t_wait_until 60 grep -qx R "$T_TMP/$name.serial" || t_fail "$name did not finish its warm-up"
}

# v_migrate_bg NAME [virsh migrate options]: live p2p migration hv1 -> hv2 in
# the background; pid in T_LAST_PID, output in $T_TMP/migrate-NAME.log.
v_migrate_bg() {
	local name=$1
	shift
	virtlab_virsh hv1 migrate --live --p2p "$@" "$name" "qemu+tcp://$LAB_HV2_IP/system" \
		>"$T_TMP/migrate-$name.log" 2>&1 &
	T_LAST_PID=$!
	T_BG_PIDS+=("$T_LAST_PID")
}

# v_migrate_back NAME: hv2 -> hv1, so the next run starts from the same place.
v_migrate_back() {
	virtlab_virsh hv2 migrate --live --p2p "$1" "qemu+tcp://$LAB_HV1_IP/system" >/dev/null
}

# (iproute2 6.1 prints no JSON for HTB classes: these parse its text.)
# v_class_bytes MINOR_HEX: bytes the HTB class 1:MINOR sent (empty if absent).
v_class_bytes() {
	ip netns exec "$LAB_NS_HV1" tc -s class show dev "$LAB_HV1_IF" classid "1:$1" 2>/dev/null |
		awk '/Sent/ { print $2; exit }'
}

# v_class_rate MINOR_HEX: the class's configured rate as tc prints it, e.g. 400Mbit.
v_class_rate() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" classid "1:$1" 2>/dev/null |
		grep -o ' rate [^ ]*' | head -n 1 | cut -d' ' -f3
}

# v_mig_classes: how many per-migration classes (1:100-1:1ff) exist.
v_mig_classes() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" 2>/dev/null |
		grep -c '^class htb 1:1[0-9a-f][0-9a-f] '
}

# v_mig_classes_are N: true when exactly N per-migration classes exist (for t_wait_until).
v_mig_classes_are() { [ "$(v_mig_classes)" -eq "$1" ]; }

# v_log_count_ge FILE PATTERN N: true once PATTERN occurs at least N times in FILE.
v_log_count_ge() { [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ]; }
