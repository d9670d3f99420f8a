#!/usr/bin/env bash
# The agent's HTTP server and log under abuse -> tests/bench/out/abuse.json
#   {"attacks": {"idle17": A, "slowloris50": A, "idle500": A},
#    "log_lines_per_s_under_bad_writes": F}
#   A = {"scrapes": N, "ok": N, "p99_ms": F, "recovered_after_s": F}
# The scenario is tests/lab/test_abuse.sh's (heartbeat and three capped flows
# meanwhile; attacker in the manager's namespace, scraper on hv1's
# 127.0.0.1), with the slowloris attack held 60 s instead of the test's 20.
# recovered_after_s: from the attack's end to the first successful scrape
# (scrapes every 0.1 s). Goal: ok = scrapes in every attack,
# recovered_after_s <= 1, log lines per second <= 50.
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=$PWD/tests/bench/out/abuse.json
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
ABUSE_SLOW_SECS=${BENCH_SLOW_SECS:-60} ABUSE_JSON=$OUT bash tests/lab/test_abuse.sh
rc=$?
[ -s "$OUT" ] || {
	echo "abuse.sh: no result (test_abuse exited $rc)" >&2
	exit 1
}
cat "$OUT"
jq -e '([.attacks[] | .ok == .scrapes and .recovered_after_s >= 0 and .recovered_after_s <= 1] | all)
	and .log_lines_per_s_under_bad_writes <= 50' "$OUT" >/dev/null || {
	echo "abuse.sh: a goal is missed (see above)" >&2
	exit 1
}
exit $rc
