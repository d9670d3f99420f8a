#!/usr/bin/env bash
# Runs every test program and prints one closing line "tests: N passed, N failed".
# A test that exits 77 was skipped for a missing prerequisite; under CI=true a
# skip counts as a failure, because CI must never pass by not testing.
#
# Stages, in order: unit (unit tests), san (unit, BPF and kernel tests built with
# ASan+UBSan), fuzz (the fuzzers, briefly), lab (every lab test), lab-san
# (some lab tests again with the ASan+UBSan agent and CLI), pkg (the Debian
# package and the Grafana provisioning files). STAGES="lab-san"
# (a space-separated list) runs only those; make check runs all of them.
set -u
BUILD=${BUILD:-build}
export BUILD
STAGES=${STAGES:-unit san fuzz lab lab-san pkg}
cd "$(dirname "$0")/.."

stage() { [[ " $STAGES " == *" $1 "* ]]; }

# MS_LAB_LOCK=FILE: every test that makes namespaces, pins BPF objects or
# starts an agent runs holding this lock (flock), so that several checkouts
# can test on one machine without clashing; unset, tests run as they come.
locked() {
	if [ -n "${MS_LAB_LOCK:-}" ]; then
		flock "$MS_LAB_LOCK" "$@"
	else
		"$@"
	fi
}

passed=0 failed=0 skipped=0 retried=0
failures=()
# Each test's output is kept until the end, where the failed ones' reasons
# are printed again next to the closing line: CI shows only the tail of a
# run's output.
outputs=$(mktemp -d /tmp/ms-run-tests-XXXXXX)
trap 'rm -rf "$outputs"' EXIT

run() {
	local name=$1
	shift
	echo "=== $name"
	local start=$SECONDS out
	out=$outputs/${#failures[@]}-$passed-$skipped
	"$@" >"$out" 2>&1
	local rc=$?
	cat "$out"
	local took=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "--- PASS $name (${took}s)"
	elif [ $rc -eq 77 ] && [ "${CI:-}" != "true" ]; then
		skipped=$((skipped + 1))
		echo "--- SKIP $name: a prerequisite is missing (see above); CI=true would fail here"
	else
		failed=$((failed + 1))
		failures+=("$name")
		mv "$out" "$outputs/failed-${#failures[@]}"
		echo "--- FAIL $name (exit $rc, ${took}s)"
	fi
}

# Unit tests, plain and under ASan+UBSan.
if stage unit; then
	for t in "$BUILD"/tests/unit/test_*; do
		[ -x "$t" ] && run "unit/$(basename "$t")" "$t"
	done
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if stage san; then
	for t in "$BUILD"/san/tests/unit/test_*; do
		[ -x "$t" ] && run "san/${t#"$BUILD"/san/tests/}" "$t"
	done
	for t in "$BUILD"/san/tests/bpf/test_* "$BUILD"/san/tests/kernel/test_*; do
		[ -x "$t" ] && run "san/${t#"$BUILD"/san/tests/}" locked "$t"
	done
fi

# Fuzzers, briefly (make fuzz runs them for long).
stage fuzz && run "fuzz/run" bash tests/fuzz/run.sh "${FUZZ_CHECK_SECONDS:-5}"

# Lab tests with real traffic in namespaces. Some assertions measure time on a
# shared 2-core machine (a rate or a latency over a few seconds), where a
# burst of load from outside can spoil one sample: a test that fails such an
# assertion exits 75 (t_fail_timing in tests/lab/lib.sh) and gets up to two
# more attempts, each reported as RETRY. Any other failure (a functional one,
# exit 1; a sanitizer report, 86; a test killed by its time limit) fails at
# once: a later clean attempt would hide a defect.
LAB_TIMING_RC=75
lab_test() {
	local t=$1 rc
	locked timeout --kill-after=10 600 bash "$t"
	rc=$?
	for attempt in 2 3; do
		[ $rc -eq $LAB_TIMING_RC ] || break
		echo "--- RETRY $(basename "$t" .sh): attempt $((attempt - 1)) failed a timing assertion (exit $rc); attempt $attempt of 3"
		retried=$((retried + 1))
		locked timeout --kill-after=10 600 bash "$t"
		rc=$?
	done
	return $rc
}
if stage lab; then
	for t in tests/lab/test_*.sh; do
		[ -f "$t" ] && run "lab/$(basename "$t" .sh)" lab_test "$t"
	done
fi

# The agent's lab run under ASan+UBSan: these lab tests once more with
# $BUILD/san/migshaperd and $BUILD/san/migshaperctl. tests/lab/lib.sh turns on
# leak detection at exit and makes any ASan, UBSan or LSan report fail the
# test (exit 86), and fails it if the agent exits non-zero on SIGTERM. The
# set covers start-up and teardown, the FUSE knobs, SIGHUP reloads, bad
# config, kill -9 with restart adoption and --cleanup, a link going down and
# a re-created interface, a foreign root qdisc, the CLI, /metrics under
# traffic, and the libvirt path: a libvirtd restart in the middle of a real
# migration (kill -9 and adoption during three migrations, 105 s under
# ASan, runs in the lab stage only: make check must stay under 40 minutes).
# LAB_SAN_TESTS overrides the list.
LAB_SAN_TESTS=${LAB_SAN_TESTS:-knobs_agent sighup bad_input restart_adopt link_events foreign_qdisc ctl prometheus virt_libvirtd_restart}
lab_san_test() {
	local -x AGENT=$PWD/$BUILD/san/migshaperd CTL=$PWD/$BUILD/san/migshaperctl
	lab_test "$1"
}
if stage lab-san; then
	san_start=$SECONDS
	for n in $LAB_SAN_TESTS; do
		t=tests/lab/test_$n.sh
		if [ -f "$t" ]; then
			run "lab-san/test_$n" lab_san_test "$t"
		else
			run "lab-san/test_$n" sh -c "echo 'no such lab test: $t'; exit 1"
		fi
	done
	echo "--- lab-san stage: $((SECONDS - san_start))s"
fi

# The Debian package (make deb, installed into an empty root) and Grafana's
# provisioning files.
if stage pkg; then
	for t in tests/pkg/test_*.sh; do
		[ -f "$t" ] && run "pkg/$(basename "$t" .sh)" timeout --kill-after=10 600 bash "$t"
	done
fi

echo
# Per failed test: its FAIL lines with the lines that lead to them (what a
# test printed to explain a failure), or its last lines when it printed none
# (e.g. a crash or a time limit); at most 16.
for i in "${!failures[@]}"; do
	echo "failed: ${failures[$i]}"
	f=$outputs/failed-$((i + 1))
	{ grep -E -B 10 --no-group-separator 'FAIL|ERROR|Sanitizer|runtime error' "$f" ||
		tail -n 8 "$f"; } | tail -n 16 | sed 's/^/    /'
done
[ $retried -gt 0 ] && echo "lab test attempts repeated: $retried (see RETRY above)"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
