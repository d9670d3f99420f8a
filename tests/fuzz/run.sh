#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer binary (clang, ASan+UBSan)
# and runs each for SECONDS (default 60). Exit 0 if nothing crashed, 1 if a
# target crashed or broke an invariant (the input is kept under
# $BUILD/fuzz/artifacts/), 2 on bad arguments, 77 if clang cannot build a
# fuzzer here.
#
# The seed corpus tests/fuzz/corpus/NAME/ is read but never written: new
# inputs go to $BUILD/fuzz/corpus/NAME/, which persists between runs.
set -u
cd "$(dirname "$0")/../.." || exit 1

SECONDS_PER_TARGET=${1:-60}
case $SECONDS_PER_TARGET in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac
BUILD=${BUILD:-build}
CLANG=${CLANG:-clang}
OUT=$BUILD/fuzz
# The code under test: the parser and what it links against, nothing that
# needs libbpf, libnl or libvirt.
SRCS="agent/config.c agent/log.c"
FLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Iagent -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wall -Wextra -Werror"

mkdir -p "$OUT/artifacts"
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n * 0; }' |
	$CLANG -fsanitize=fuzzer -x c - -o "$OUT/.probe" 2>/dev/null; then
	echo "fuzz: $CLANG cannot build libFuzzer targets here (no libclang_rt.fuzzer?)" >&2
	exit 77
fi
rm -f "$OUT/.probe"

failed=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	corpus=${name#fuzz_}
	bin=$OUT/$name
	# shellcheck disable=SC2086 # FLAGS and SRCS are word lists
	if ! $CLANG $FLAGS -o "$bin" "$src" $SRCS; then
		echo "--- FAIL $name: does not build"
		failed=1
		continue
	fi
	mkdir -p "$OUT/corpus/$corpus"
	seeds=tests/fuzz/corpus/$corpus
	[ -d "$seeds" ] || seeds=
	echo "=== $name for ${SECONDS_PER_TARGET}s"
	# -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds memory.
	# shellcheck disable=SC2086 # seeds may be empty
	if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$bin" \
		-max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
		-max_len=16384 -print_final_stats=1 \
		-artifact_prefix="$OUT/artifacts/$name-" \
		"$OUT/corpus/$corpus" $seeds >"$OUT/$name.log" 2>&1; then
		runs=$(awk '/stat::number_of_executed_units/ {print $2; exit}' "$OUT/$name.log")
		echo "--- PASS $name (${runs:-?} inputs, corpus $(find "$OUT/corpus/$corpus" -type f | wc -l) files)"
	else
		failed=1
		echo "--- FAIL $name; last lines of $OUT/$name.log:"
		tail -n 40 "$OUT/$name.log"
		ls "$OUT/artifacts/$name-"* 2>/dev/null
	fi
done
exit $failed
