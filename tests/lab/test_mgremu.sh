#!/usr/bin/env bash
# The manager emulator (tests/tools/mgremu.c) counts what the outage
# scenario relies on, in a private network namespace on loopback: a healthy
# host answers every call over the persistent and the fresh connections; a
# host that stops answering (SIGSTOP) fails calls by the call timeout and is
# declared non-responsive once N calls in a row failed for at least S
# seconds, exactly once; it is up again at the first answered call.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
MG=$BUILD/tools/mgremu
T=test_mgremu
fail() { echo "[$T] FAIL: $*"; exit 1; }
[ -x "$MG" ] || { echo "[$T] $MG is not built"; [ "${CI:-}" = true ] && exit 1; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "[$T] needs root (a network namespace)"; exit 77; }
command -v jq >/dev/null || { echo "[$T] jq is missing (make deps)"; exit 1; }

exec unshare --net bash -s "$MG" "$T" <<'INNER'
set -u
MG=$1 T=$2
fail() { echo "[$T] FAIL: $*"; exit 1; }
ip link set lo up
tmp=$(mktemp -d /tmp/ms-mgremu.XXXXXX)
"$MG" host --listen 127.0.0.1 --port 7001 2>"$tmp/host.err" &
host=$!
trap 'kill -CONT $host 2>/dev/null; kill $host 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do ss -Hltn 'sport = :7001' | grep -q . && break; sleep 0.1; done

# Healthy: 20 calls at 100 ms, every 4th fresh, 64 kB replies.
ok=$("$MG" manager --connect 127.0.0.1 --port 7001 --duration-s 2 --interval-ms 100 \
	--reply-bytes 65536 --fresh-every 4 --json --trace "$tmp/ok.trace") || fail "manager failed"
echo "[$T] healthy: $ok"
[ "$(jq .failed <<<"$ok")" = 0 ] || fail "calls failed against a healthy host: $ok"
[ "$(jq .calls <<<"$ok")" -ge 15 ] || fail "too few calls: $ok"
[ "$(jq .declared_down <<<"$ok")" = 0 ] || fail "a healthy host was declared down: $ok"
fresh=$(grep -c ' fresh$' "$tmp/ok.trace")
[ "$fresh" -ge 3 ] || fail "only $fresh calls went over fresh connections"

# Stopped for 2 s of a 4 s run: calls time out (300 ms), 3 failures in a row
# over at least 1 s declare it down once; after SIGCONT it is up again.
"$MG" manager --connect 127.0.0.1 --port 7001 --duration-s 4 --interval-ms 100 \
	--call-timeout-ms 300 --down-after 3 --down-min-s 1 --json --trace "$tmp/stop.trace" >"$tmp/stop.json" &
mgr=$!
sleep 1
kill -STOP $host
sleep 2
kill -CONT $host
wait $mgr || fail "manager failed"
stop=$(cat "$tmp/stop.json")
echo "[$T] host stopped 2 s: $stop"
[ "$(jq .declared_down <<<"$stop")" = 1 ] || fail "want exactly one declaration of the stopped host: $stop"
[ "$(jq .failed <<<"$stop")" -ge 3 ] || fail "too few failed calls: $stop"
down=$(jq .down_s <<<"$stop")
awk -v d="$down" 'BEGIN { exit !(d > 0.3 && d < 2.0) }' || fail "down for $down s, want between 0.3 and 2"
[ "$(tail -n 1 "$tmp/stop.trace" | awk '{print $3, $4}')" = "ok up" ] || fail "not up again at the end: $(tail -n 1 "$tmp/stop.trace")"
echo "[$T] PASS"
INNER
