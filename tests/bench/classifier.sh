#!/usr/bin/env bash
# Classifier cost per packet against an empty tc program, both through
# BPF_PROG_TEST_RUN (see tests/bench/bench_classifier.c). Needs root.
# Writes tests/bench/out/classifier.json:
#   {"ns_per_pkt": F, "empty_ns_per_pkt": F, "ratio": F}
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
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$bin" >"$tmp"
mv "$tmp" "$out"
trap - EXIT
cat "$out"
