#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer binary (clang, ASan+UBSan)
# and runs each for SECONDS (default 60). Exit 0 if nothing crashed, 1 if a
# target crashed or broke an invariant (the input is kept under
# $BUILD/fuzz/artifacts/), 2 on bad arguments, 77 if clang cannot build a
# fuzzer here, or if a target had to be skipped for a missing prerequisite
# (fuzz_classifier needs root and a kernel that loads the classifier) and
# none failed: the others still run, and scripts/run-tests.sh counts 77 as a
# failure under CI=true.
#
# Each target links the sources and libraries target_setup names. Targets
# are built straight from the sources with the fuzzer's sanitizers (a
# gcc-built $BUILD/san/libmigshaper.a cannot be mixed with clang's ASan
# runtime); fuzz_classifier also needs $BUILD/classifier.skel.h, which is
# made here through the Makefile (make deletes it after a build as an
# intermediate file).
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
# The same include path as the Makefile's: every source folder.
INCLUDES=$(for d in include bpf tc agent agent/*/; do printf -- '-I%s ' "${d%/}"; done)
FLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE $INCLUDES -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wall -Wextra -Werror"

# target_setup NAME: sets SRCS (code under test), XFLAGS, LIBS for NAME; or
# SKIP to the reason it cannot run here (returns 1).
target_setup() {
	SRCS="agent/lib/log.c agent/lib/clock.c" XFLAGS='' LIBS='' SKIP=''
	case $1 in
	fuzz_config)
		# migration_ports = auto reads libvirtd's qemu.conf (qemuconf), found through /proc (qemupid, which also lists sockets: sockdiag, nlreq).
		SRCS="agent/config/config.c agent/virt/qemuconf.c agent/attribution/qemupid.c agent/attribution/sockdiag.c agent/lib/nlreq.c agent/lib/file.c agent/policy/policy.c agent/policy/migration.c agent/policy/classes.c agent/lib/log.c agent/lib/clock.c"
		LIBS="-lmnl"
		;;
	fuzz_peer)
		SRCS="agent/peer/peerwire.c"
		;;
	fuzz_jobstats)
		SRCS="agent/virt/jobstats.c agent/lib/log.c agent/lib/clock.c"
		if ! XFLAGS=$(pkg-config --cflags libvirt 2>/dev/null) ||
			! LIBS=$(pkg-config --libs libvirt 2>/dev/null); then
			SKIP="libvirt development files are missing (pkg-config libvirt)"
			return 1
		fi
		;;
	fuzz_classifier)
		# BPF_PROG_TEST_RUN of a tc program needs root.
		if [ "$(id -u)" -ne 0 ]; then
			SKIP="BPF_PROG_TEST_RUN of a tc program needs root"
			return 1
		fi
		if ! make -s BUILD="$BUILD" "$BUILD/classifier.skel.h" >"$OUT/skel.log" 2>&1; then
			SKIP="cannot build $BUILD/classifier.skel.h (see $OUT/skel.log)"
			return 1
		fi
		SRCS="bpf/loader.c agent/lib/log.c agent/lib/clock.c"
		XFLAGS="-I$BUILD -Itests $(pkg-config --cflags libbpf 2>/dev/null)"
		LIBS="$(pkg-config --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz"
		;;
	esac
	return 0
}

mkdir -p "$OUT/artifacts"
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n * 0; }' |
	$CLANG -fsanitize=fuzzer -x c - -o "$OUT/.probe" 2>/dev/null; then
	echo "fuzz: $CLANG cannot build libFuzzer targets here (no libclang_rt.fuzzer?)" >&2
	exit 77
fi
rm -f "$OUT/.probe"

failed=0 skipped=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	corpus=${name#fuzz_}
	bin=$OUT/$name
	if ! target_setup "$name"; then
		echo "--- SKIP $name: $SKIP"
		skipped=1
		continue
	fi
	# shellcheck disable=SC2086 # FLAGS, XFLAGS, SRCS and LIBS are word lists
	if ! $CLANG $FLAGS $XFLAGS -o "$bin" "$src" $SRCS $LIBS; then
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
	elif [ $? -eq 77 ]; then
		# The target found at start that it cannot run here (it says why).
		echo "--- SKIP $name: $(grep -m1 'SKIP' "$OUT/$name.log")"
		skipped=1
	else
		failed=1
		echo "--- FAIL $name; last lines of $OUT/$name.log:"
		tail -n 40 "$OUT/$name.log"
		ls "$OUT/artifacts/$name-"* 2>/dev/null
	fi
done
[ $failed -ne 0 ] && exit 1
[ $skipped -ne 0 ] && exit 77
exit 0
