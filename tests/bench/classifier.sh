#!/usr/bin/env bash
# Classifier cost per packet against an empty tc program (see
# tests/bench/bench_classifier.c for how each number is measured). Needs root
# and network namespaces: run it under the lab lock. Writes
# tests/bench/out/classifier.json:
#   {"ns_per_pkt": F, "empty_ns_per_pkt": F, "ratio": F,
#    "bridged": {"ns_per_pkt": F, "empty_ns_per_pkt": F, "ratio": F},
#    "test_run": {"ns_per_pkt": F, "empty_ns_per_pkt": F, "ratio": F}}
# The top-level numbers are the host's own connections (real TCP sockets),
# "bridged" the same packet mix as frames without an inet socket, "test_run"
# the mix under BPF_PROG_TEST_RUN (no TCP socket there: the full parse).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
bin="$BUILD/bench/bench_classifier"
if [ ! -x "$bin" ]; then
	echo "classifier.sh: $bin is missing: make BUILD=$BUILD $bin" >&2
	exit 1
fi
mkdir -p tests/bench/out
out=tests/bench/out/classifier.json
host=msb-h-$$
peer=msb-p-$$
tmp=$(mktemp)
cleanup() {
	rm -f "$tmp"
	ip netns del "$host" 2>/dev/null || true
	ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT

# The shaped NIC msb0 in $host, its wire peer msb1 in $peer. Every address of
# the packet mix is a /32 (/128) on its side, reached through the veth.
ip netns add "$host"
ip netns add "$peer"
ip -n "$host" link add msb0 type veth peer name msb1 netns "$peer"
for a in 198.18.4.210 203.0.113.5 192.0.2.78 198.18.0.1; do
	ip -n "$host" addr add "$a/32" dev msb0
done
ip -n "$host" addr add 2001:db8:ff::5/128 dev msb0 nodad
for a in 198.19.4.210 192.0.2.77 192.0.2.1 198.18.0.2 198.51.100.9 10.3.25.40 198.18.0.3; do
	ip -n "$peer" addr add "$a/32" dev msb1
done
ip -n "$peer" addr add 2001:db8:fe::7/128 dev msb1 nodad
for ns in "$host" "$peer"; do
	dev=msb0
	[ "$ns" = "$peer" ] && dev=msb1
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "$dev" up
	ip -n "$ns" route add default dev "$dev"
	ip -n "$ns" -6 route add default dev "$dev"
done

# nsenter, not ip netns exec: that remounts /sys and hides the bpffs the
# classifier pins to.
nsenter --net="/run/netns/$host" -- "$bin" msb0 "/run/netns/$peer" >"$tmp"
mv "$tmp" "$out"
cat "$out"
