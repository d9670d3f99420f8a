#!/usr/bin/env bash
# Cost of a /metrics scrape with 64 migrations' worth of series: latency seen
# by a kept-alive scraper and the agent CPU per scrape (see
# tests/bench/bench_metrics.c). Needs no privileges. Goal: p99 <= 20 ms.
# Writes tests/bench/out/metrics.json:
#   {"scrape_ms": {"p50": F, "p99": F}, "series": N, "cpu_us_per_scrape": F}
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
bin="$BUILD/bench/bench_metrics"
if [ ! -x "$bin" ]; then
	echo "metrics.sh: $bin is missing: make BUILD=$BUILD $bin" >&2
	exit 1
fi
mkdir -p tests/bench/out
out=tests/bench/out/metrics.json
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$bin" >"$tmp"
p99=$(sed -n 's/.*"p99": \([0-9.]*\).*/\1/p' "$tmp")
mv "$tmp" "$out"
trap - EXIT
cat "$out"
if ! awk -v p="$p99" 'BEGIN { exit !(p != "" && p <= 20) }'; then
	echo "metrics.sh: scrape p99 ${p99:-?} ms is over the 20 ms goal" >&2
	exit 1
fi
