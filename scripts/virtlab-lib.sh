# shellcheck shell=bash
# Real libvirt hosts inside lab namespaces: functions sourced by scripts/lab.sh
# (`lab.sh up --libvirt`), the libvirt lab tests and the demo.
#
# Each host is a network namespace plus a private mount and UTS namespace for
# its own libvirtd, whose /run/libvirt, /etc/libvirt, /var/lib/libvirt,
# /var/log/libvirt, /var/cache/libvirt and /etc/hosts are bind mounts of a
# directory of ours. Clients outside reach it through
# qemu+unix:///system?socket=<dir>/run/libvirt-sock; the hosts reach each other
# through qemu+tcp://<ip>/system (no auth: lab addresses only).

VIRTLAB_DIR=${VIRTLAB_DIR:-/tmp/ms-virtlab}
# Warm QEMU capability cache: the first probe takes 8-16 s, a copy 0.5 s.
VIRTLAB_CACHE=${VIRTLAB_CACHE:-$VIRTLAB_DIR/qemu-caps-cache}

# virtlab_uri NAME: the URI a client outside the lab uses for host NAME.
virtlab_uri() { echo "qemu+unix:///system?socket=$VIRTLAB_DIR/$1/run/libvirt-sock"; }

# virtlab_virsh NAME ARGS...: virsh against host NAME.
virtlab_virsh() {
	local name=$1
	shift
	timeout 60 virsh -q -c "$(virtlab_uri "$name")" "$@"
}

# A stable per-host UUID: libvirt refuses to migrate between hosts with one host_uuid.
_virtlab_host_uuid() {
	local h
	h=$(printf '%s' "migshaper-lab-$1" | md5sum | cut -c1-32)
	echo "${h:0:8}-${h:8:4}-${h:12:4}-${h:16:4}-${h:20:12}"
}

_virtlab_write_config() {
	local name=$1 ip=$2 dir=$3 hosts=$4
	mkdir -p "$dir"/{run,lib,log,cache} "$dir/etc"
	cp -a /etc/libvirt/. "$dir/etc/"
	rm -f "$dir"/etc/qemu/networks/autostart/* 2>/dev/null
	cat >"$dir/etc/libvirtd.conf" <<EOC
# migshaper lab host $name: TCP without auth, on the lab address only.
listen_tls = 0
listen_tcp = 1
auth_tcp = "none"
listen_addr = "$ip"
host_uuid = "$(_virtlab_host_uuid "$name")"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOC
	cat >"$dir/etc/qemu.conf" <<EOC
# No virtlogd runs in the lab.
stdio_handler = "file"
migration_host = "$ip"
migration_address = "$ip"
# Both daemons number domains from 1: their cgroup names would clash.
cgroup_controllers = [ ]
namespaces = [ ]
security_driver = "none"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
EOC
	printf '127.0.0.1 localhost\n%s\n' "$hosts" >"$dir/hosts"
	if [ -d "$VIRTLAB_CACHE" ]; then
		mkdir -p "$dir/cache/qemu"
		cp -a "$VIRTLAB_CACHE/." "$dir/cache/qemu/"
	fi
}

# virtlab_daemon_start NS NAME: starts NAME's libvirtd in NS on its existing
# directories, and waits (bounded) until it answers. After a restart it finds
# its running domains again in <dir>/run.
virtlab_daemon_start() {
	local ns=$1 name=$2
	local dir=$VIRTLAB_DIR/$2 i
	mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
	rm -f "$dir/run/libvirtd.pid"
	# libvirtd reads the host's CPUID once as it starts and re-probes every
	# QEMU binary (8 s here) when that differs from the cached probe's. One
	# CPUID leaf holds the APIC ID of the CPU that asks, so the daemon starts
	# on CPU 0 only, and gets every CPU back once it answers.
	ip netns exec "$ns" unshare --mount --uts --propagation private taskset -c 0 sh -c "
		mount --bind '$dir/run' /run/libvirt &&
		mount --bind '$dir/etc' /etc/libvirt &&
		mount --bind '$dir/lib' /var/lib/libvirt &&
		mount --bind '$dir/log' /var/log/libvirt &&
		mount --bind '$dir/cache' /var/cache/libvirt &&
		mount --bind '$dir/hosts' /etc/hosts &&
		hostname '$name' &&
		exec libvirtd --daemon --listen --pid-file /run/libvirt/libvirtd.pid" ||
		return 1
	for ((i = 0; i < 600; i++)); do
		if [ -S "$dir/run/libvirt-sock" ] &&
			timeout 5 virsh -q -c "$(virtlab_uri "$name")" version >/dev/null 2>&1; then
			taskset -a -p "$(taskset -p $$ | awk '{print $NF}')" \
				"$(cat "$dir/run/libvirtd.pid")" >/dev/null
			return
		fi
		sleep 0.1
	done
	echo "virtlab: libvirtd of $name did not answer within 60 s; its log:" >&2
	tail -n 20 "$dir/log/libvirtd.log" >&2 2>/dev/null
	return 1
}

# virtlab_daemon_stop NAME [SIGNAL]: stops NAME's libvirtd (TERM by default),
# leaving its QEMU processes running, as a daemon restart does.
virtlab_daemon_stop() {
	local dir=$VIRTLAB_DIR/$1 pid i
	pid=$(cat "$dir/run/libvirtd.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill "-${2:-TERM}" "$pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

# virtlab_host_up NS NAME IP HOSTS_LINES: configures NAME and starts its libvirtd in NS.
virtlab_host_up() {
	local ns=$1 name=$2 ip=$3 hosts=$4
	local dir=$VIRTLAB_DIR/$name
	_virtlab_write_config "$name" "$ip" "$dir" "$hosts"
	virtlab_daemon_start "$ns" "$name" || return 1
	# A host that probed QEMU (no cache yet, or an outdated one) warms the
	# cache for the next ones and later labs.
	if [ -n "$(ls "$dir/cache/qemu/capabilities" 2>/dev/null)" ] &&
		! diff -rq "$dir/cache/qemu" "$VIRTLAB_CACHE" >/dev/null 2>&1; then
		rm -rf "$VIRTLAB_CACHE"
		mkdir -p "$VIRTLAB_CACHE" && cp -a "$dir/cache/qemu/." "$VIRTLAB_CACHE/"
	fi
}

# virtlab_host_down NS NAME: destroys NAME's domains, stops its libvirtd and
# any QEMU left in NS (after a kill -9 of the daemon or a failed test).
virtlab_host_down() {
	local ns=$1 name=$2 dir=$VIRTLAB_DIR/$2 pid dom destroys=()
	[ -d "$dir" ] || return 0
	if [ -S "$dir/run/libvirt-sock" ]; then
		# All at once: each destroy waits ~2 s for its QEMU to exit here.
		for dom in $(timeout 10 virsh -q -c "$(virtlab_uri "$name")" list --name 2>/dev/null); do
			timeout 10 virsh -q -c "$(virtlab_uri "$name")" destroy "$dom" >/dev/null 2>&1 &
			destroys+=("$!")
		done
		[ ${#destroys[@]} -eq 0 ] || wait "${destroys[@]}"
	fi
	virtlab_daemon_stop "$name"
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
		qemu-system-*|libvirtd) kill -KILL "$pid" 2>/dev/null ;;
		esac
	done
	rm -rf "$dir"
}
