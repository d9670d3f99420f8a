#!/usr/bin/env bash
# The source's side of issue 14 against a fake destination agent. A real
# migration hv1 -> hv2 (QEMU, fair policy, a guest that cannot converge at
# the aggregate so it runs for the whole test) while a fake peer on hv2's
# peer_port answers, in turn: nothing (no listener: unknown), a good answer
# (3 migrations there: the divisor is 3), garbage, 10 MB, negative counts,
# impossible counts, nothing in time (silent: halving down to the floor),
# and a good answer again. Meanwhile /metrics is scraped every 100 ms.
# Asserts: every scrape answered; the divisor and peer state on /metrics
# follow the peer; refused answers hold the allocation; silence halves it
# to the floor; the allocation never rises above what it had without a
# peer. Then the agent's own /v1/peer: answered from another address while
# 30 idle connections are held open, and again once they are gone.
# The scrapes' p99 is a timing sample (exit 75 above 20 ms).
. "$(dirname "$0")/virtlib.sh"
command -v python3 >/dev/null || t_skip "python3 is missing"
command -v curl >/dev/null || t_skip "curl is missing"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
PEER_PORT=9466
AGG=200
MIN=10
v_config "$conf" migration_aggregate_mbps=$AGG migration_max_mbps=$AGG migration_min_mbps=$MIN \
	policy=fair cycle_ms=500 peer_listen="$LAB_HV1_IP" peer_port=$PEER_PORT
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
t_wait_listen "$LAB_NS_HV1" $PEER_PORT || t_fail "the agent does not serve /v1/peer on port $PEER_PORT"

# --- the fake destination agent: its behaviour is read from a file per request.
mode_file="$T_TMP/peer.mode"
echo none >"$mode_file"
cat >"$T_TMP/fakepeer.py" <<'EOF'
import socket, sys, threading, time
addr, port, mode_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
GOOD = b'{"version":1,"incoming_migrations":3,"outgoing_migrations":0,"incoming_aggregate_mbps":900}'
def reply(c, body, status=b"200 OK"):
    c.sendall(b"HTTP/1.0 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
def serve(c):
    try:
        c.settimeout(10)
        req = b""
        while b"\r\n\r\n" not in req and len(req) < 4096:
            d = c.recv(4096)
            if not d:
                return
            req += d
        mode = open(mode_file).read().strip()
        if mode == "good":
            reply(c, GOOD)
        elif mode == "garbage":
            reply(c, b"\x00\xffthis is { not json")
        elif mode == "huge":
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\n{\"version\":")
            chunk = b"9" * 65536
            for _ in range(160):  # 10 MB
                c.sendall(chunk)
        elif mode == "negative":
            reply(c, b'{"version":1,"incoming_migrations":-4,"outgoing_migrations":-1,"incoming_aggregate_mbps":-900}')
        elif mode == "hugecounts":
            reply(c, b'{"version":1,"incoming_migrations":4294967295,"outgoing_migrations":99999999999999999999,"incoming_aggregate_mbps":900}')
        elif mode == "slow":
            time.sleep(5)
            reply(c, GOOD)
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

# The checks read the latest scrape of the loop below, the agent's one
# /metrics client (see there); fresh_metrics asks the agent itself.
metrics() { cat "$T_TMP/metrics.txt" 2>/dev/null; }
fresh_metrics() { t_hv1 curl -s --max-time 2 http://127.0.0.1:9465/metrics; }
# mig_value FAMILY [EXTRA_LABEL_MATCH]: the migration's sample (empty if absent).
mig_value() {
	metrics | awk -v f="$1" -v m="${2:-}" 'index($0, f "{") == 1 && index($0, "domain=\"ms-peer\"") &&
		(m == "" || index($0, m)) { print $2; exit }'
}
alloc_mbps() { mig_value migshaper_migration_allocated_bytes_per_second | awk '{ if ($1 != "") printf "%.0f", $1 * 8 / 1e6 }'; }
state_is() { [ "$(mig_value migshaper_migration_peer_state "state=\"$1\"")" = 1 ]; }
divisor_is() { [ "$(mig_value migshaper_migration_divisor)" = "$1" ]; }
requests() { ${2:-metrics} | awk -v o="$1" 'index($0, "migshaper_peer_requests_total{outcome=\"" o "\"}") == 1 { print $2 }'; }
# requests_grew OUTCOME FROM N: at least N more requests ended so.
requests_grew() { [ "$(requests "$1")" -ge $(($2 + $3)) ]; }
alloc_is() { [ "$(alloc_mbps)" = "$1" ]; }

# --- /metrics scraped every 100 ms for the whole run: status and time of
# each, the peer's mode then (read after the scrape: a sample labelled with a
# mode was taken while it or the one before was in force), and the agent's
# last cycle's duration. This loop is the only client of /metrics the test
# runs while it measures, so that no scrape of the sample waits behind one
# of the test's own: each scrape, whole, becomes $T_TMP/metrics.txt (renamed
# into place) for the checks, and from phase 1 on ($T_TMP/allocs.on) every
# allocation the agent shows goes to $alloc_log with the mode.
scrape_log="$T_TMP/scrapes"
alloc_log="$T_TMP/allocs"
MIN_SCRAPES=50
scrape_loop() {
	local r mode
	while [ ! -e "$T_TMP/stop" ]; do
		if r=$(t_hv1 curl -s -o "$T_TMP/scrape.txt" --max-time 2 -w '%{http_code} %{time_total}' \
			http://127.0.0.1:9465/metrics); then
			mv -f "$T_TMP/scrape.txt" "$T_TMP/metrics.txt"
		else
			r="fail 2"
		fi
		read -r mode <"$mode_file"
		echo "$r $mode $(awk '/^migshaper_cycle_duration_seconds / { print $2 }' \
			"$T_TMP/metrics.txt" 2>/dev/null)"
		[ -e "$T_TMP/allocs.on" ] && echo "$mode $(alloc_mbps)" >>"$alloc_log"
		sleep 0.1
	done >"$scrape_log"
}

v_guest ms-peer 40
V_MIG_LIMIT_S=300 v_migrate_bg ms-peer
t_wait_log "$log" "ms-peer: flow .* in class mig:0" 20 || t_fail "the migration's flow was not attributed"
scrape_loop &
scrape_pid=$!
T_BG_PIDS+=("$scrape_pid")

# Phase 0: nothing listens on hv2's peer port: no agent there, local counts only.
t_wait_until 10 state_is unknown || t_fail "peer state not unknown without a peer: $(metrics | grep peer_state)"
t_wait_until 5 alloc_is $AGG || t_fail "alloc $(alloc_mbps) Mbit/s without a peer, want $AGG"
divisor_is 1 || t_fail "divisor $(mig_value migshaper_migration_divisor) without a peer, want 1"
base=$(alloc_mbps)
t_wait_log "$log" "peer $LAB_HV2_IP:$PEER_PORT: no migshaper agent there" 5 ||
	t_fail "no 'no agent there' line"
t_log "without a peer: ${base} Mbit/s, divisor 1"
touch "$T_TMP/allocs.on"

t_bg "$LAB_NS_HV2" "$T_TMP/fakepeer.out" python3 "$T_TMP/fakepeer.py" "$LAB_HV2_IP" $PEER_PORT "$mode_file"
t_wait_listen "$LAB_NS_HV2" $PEER_PORT || t_fail "the fake peer does not listen"

# Phase 1: a good answer: 3 migrations there, so fair divides by 3.
echo good >"$mode_file"
t_wait_until 10 state_is answered || t_fail "peer state not answered: $(metrics | grep peer_state)"
t_wait_until 5 divisor_is 3 || t_fail "divisor $(mig_value migshaper_migration_divisor), want 3"
want=$(awk -v a=$AGG 'BEGIN { printf "%.0f", a / 3 }')
t_wait_until 5 alloc_is "$want" || t_fail "alloc $(alloc_mbps) Mbit/s with divisor 3, want $want"
t_log "good answer: divisor 3, ${want} Mbit/s"

# Phases 2-5: refused answers hold the allocation (each seen at least twice).
for mode in garbage huge negative hugecounts; do
	from=$(requests refused fresh_metrics)
	echo "$mode" >"$mode_file"
	t_wait_until 10 requests_grew refused "$from" 2 || t_fail "$mode: not refused ($(requests refused) refused)"
	state_is refused || t_fail "$mode: peer state not refused: $(metrics | grep peer_state)"
	alloc_is "$want" || t_fail "$mode: alloc $(alloc_mbps) Mbit/s, want it held at $want"
	t_log "$mode: refused, allocation held at $want Mbit/s"
done
grep -q "peer $LAB_HV2_IP:$PEER_PORT: answer refused" "$log" || t_fail "no 'answer refused' line"

# Phase 6: no answer in time: halved each cycle down to the floor.
echo slow >"$mode_file"
t_wait_until 10 state_is silent || t_fail "peer state not silent: $(metrics | grep peer_state)"
t_wait_until 10 alloc_is $MIN || t_fail "alloc $(alloc_mbps) Mbit/s while silent, want the floor $MIN"
t_log "silent: down to the floor, $MIN Mbit/s"

# Phase 7: it answers again: the divisor-3 share is back.
echo good >"$mode_file"
t_wait_until 10 state_is answered || t_fail "peer state not answered again"
t_wait_until 5 alloc_is "$want" || t_fail "alloc $(alloc_mbps) Mbit/s after it answered again, want $want"
t_log "answers again: ${want} Mbit/s"
# The phases go as fast as the agent reacts: scrape on until there are
# enough to judge (a fast run had 47 of the 50 asked for below).
_enough_scrapes() { [ "$(wc -l <"$scrape_log")" -ge $MIN_SCRAPES ]; }
t_wait_until 30 _enough_scrapes
touch "$T_TMP/stop"
t_wait_exit "$scrape_pid" 5 || t_fail "the scrape loop did not end"

# The allocation never rose above what it had without a peer; while silent
# it never rose between samples.
awk -v base="$base" '$2 != "" && $2 + 0 > base + 0 { print; exit 1 }' "$alloc_log" ||
	t_fail "allocation above ${base} Mbit/s with a peer: $(awk -v b="$base" '$2 > b' "$alloc_log" | head -3)"
awk '$1 == "slow" && $2 != "" { if (prev != "" && $2 + 0 > prev + 0) { print; exit 1 } prev = $2 }' "$alloc_log" ||
	t_fail "allocation rose while the peer was silent"
t_log "allocation samples: $(wc -l <"$alloc_log"), at most ${base} Mbit/s"
steps=$(awk '$1 == "slow" && $2 != "" && $2 != prev { printf "%s ", $2; prev = $2 }' "$alloc_log")
t_log "while silent (Mbit/s): $steps"
# Halved, not cut: each step at least half the one before (a step the
# 100 ms sampling missed would look like a cut: a timing sample).
halving=$(echo "$steps" | awk '{ for (i = 2; i <= NF; i++) if ($i * 2 + 1 < $(i - 1)) { print $(i - 1) " -> " $i; exit } }')
[ -z "$halving" ] || silent_cut=$halving

# Every scrape answered (200), whatever the peer did.
total=$(wc -l <"$scrape_log")
bad=$(awk '$1 != "200"' "$scrape_log" | wc -l)
[ "$total" -ge $MIN_SCRAPES ] || t_fail "only $total scrapes in 30 s"
[ "$bad" -eq 0 ] || t_fail "$bad of $total scrapes not answered 200: $(awk '$1 != "200"' "$scrape_log" | head -3)"
p99=$(awk '{ print $2 * 1000 }' "$scrape_log" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", v[i] }')
t_log "/metrics: $total scrapes, all answered; p99 ${p99} ms"

virtlab_virsh hv1 domjobabort ms-peer >/dev/null 2>&1

# --- this agent's /v1/peer: its answer, from another host, with idle connections held.
peer_get() { ip netns exec "$1" curl -s --max-time 2 "http://$LAB_HV1_IP:$PEER_PORT/v1/peer"; }
ans=$(peer_get "$LAB_NS_MGR")
echo "$ans" | python3 -c 'import json,sys; a=json.load(sys.stdin); assert a["version"] == 1 and a["incoming_aggregate_mbps"] == '"$AGG"' and a["incoming_migrations"] >= 0 and a["outgoing_migrations"] >= 0, a' ||
	t_fail "bad /v1/peer answer: $ans"
# 30 idle connections from hv2, each held until the agent closes it (it
# keeps 8 per address and closes one that owes its request headers after
# 5 s), 8 s at most; the client then ends.
cat >"$T_TMP/idle.py" <<'EOF'
import select, socket, sys, time
t0 = time.monotonic()
conns = [socket.create_connection((sys.argv[1], int(sys.argv[2]))) for _ in range(30)]
print("open", flush=True)
end = t0 + float(sys.argv[3])
while conns and time.monotonic() < end:
    for c in select.select(conns, [], [], max(0.0, end - time.monotonic()))[0]:
        try:
            gone = not c.recv(4096)
        except OSError:
            gone = True
        if gone:
            conns.remove(c)
            c.close()
print("%d of 30 still open after %.1f s" % (len(conns), time.monotonic() - t0), flush=True)
EOF
t_bg "$LAB_NS_HV2" "$T_TMP/idle.out" python3 "$T_TMP/idle.py" "$LAB_HV1_IP" $PEER_PORT 8
idle_pid=$T_LAST_PID
t_wait_until 5 grep -q open "$T_TMP/idle.out" || t_fail "idle connections not opened: $(cat "$T_TMP/idle.out")"
peer_get "$LAB_NS_MGR" | grep -q '"version":1' || t_fail "/v1/peer not answered with 30 idle connections held"
t_wait_exit "$idle_pid" 15 || t_fail "the idle client did not end"
peer_get "$LAB_NS_HV2" | grep -q '"version":1' || t_fail "/v1/peer not answered after the idle connections"
t_log "/v1/peer answered with 30 idle connections held, and after ($(tail -n 1 "$T_TMP/idle.out"))"

[ -z "${silent_cut:-}" ] || t_fail_timing "while silent the allocation fell by more than half in one step: $silent_cut"
if awk -v p="$p99" 'BEGIN { exit !(p > 20) }'; then
	t_log "the slowest scrapes (ms, the peer's mode, the agent's last cycle in s):"
	sort -k2,2 -g -r "$scrape_log" | head -n 3 | awk -v n="$T_NAME" '{ printf "[%s]   %.1f %s %s\n", n, $2 * 1000, $3, $4 }'
	t_fail_timing "/metrics p99 ${p99} ms > 20 ms while the peer misbehaved"
fi
t_log "PASS"
