#!/usr/bin/env bash
# Runs the benchmarks (tests/bench/NAME.sh), or only the one named by $1.
# Each writes tests/bench/out/NAME.json; this prints each file at the end.
set -u
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.."
mkdir -p tests/bench/out

names=()
if [ $# -gt 0 ] && [ -n "$1" ]; then
	names=("$1")
else
	for f in tests/bench/*.sh; do names+=("$(basename "$f" .sh)"); done
fi

rc=0
for n in "${names[@]}"; do
	if [ ! -f "tests/bench/$n.sh" ]; then
		echo "bench: no benchmark named '$n' (see tests/bench/*.sh)" >&2
		exit 2
	fi
	echo "=== bench $n"
	if bash "tests/bench/$n.sh"; then
		echo "--- $n: tests/bench/out/$n.json"
		cat "tests/bench/out/$n.json"
		echo
	else
		echo "--- $n: FAILED"
		rc=1
	fi
done
exit $rc
