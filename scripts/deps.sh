#!/usr/bin/env bash
# Installs every Debian package migshaper needs to build, test and run its lab.
# Idempotent: packages already present are not touched, and apt is only asked
# when something is missing.
set -euo pipefail

packages=(
	build-essential pkg-config clang llvm bpftool
	libbpf-dev libelf-dev zlib1g-dev
	libnl-3-dev libnl-route-3-dev libmnl-dev
	libcmocka-dev libvirt-dev libvirt-clients
	libfuse3-dev fuse3 libmicrohttpd-dev libyaml-dev libcrypt-dev prometheus gnuplot-nox
	iproute2 iperf3 ethtool jq procps util-linux
	libvirt-daemon-system qemu-system-x86 qemu-utils nasm socat
	debhelper dpkg-dev lintian python3-yaml man-db systemd
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# The lab starts its own daemons (libvirtd, prometheus) in namespaces: keep
	# the packages from starting host-wide ones. policy-rc.d is only ours
	# while we install.
	policy=/usr/sbin/policy-rc.d
	own_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
	if [ $own_policy -eq 1 ]; then rm -f "$policy"; fi
fi

# The agent pins its program and maps; bpffs must be mounted for that.
if [ "$(id -u)" -eq 0 ] && ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
echo "deps: ok"
