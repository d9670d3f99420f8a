#!/usr/bin/env bash
# libvirtd on hv1 answers every call, but slowly (a busy daemon): each
# request the agent sends reaches it SLOW_MS late, through a proxy on the
# agent's libvirt socket. Every call then stays within the agent's call
# timeout (2 s), so nothing times out; what bounds the agent's loop is its
# budget for waiting on libvirt (agent/lib/waitbudget.h). During a migration:
#   - the agent says libvirt answers slowly, defers calls
#     (migshaper_libvirt_calls_deferred_total grows), calls again once the
#     loop has run free for a while, and no deferred call counts as a libvirt
#     error;
#   - the migration keeps its class, rate and flows, and no call timed out;
#   - every /metrics scrape answers, none slower than MAX_SCRAPE_S (a timing
#     sample);
#   - once the daemon is quick again, the agent ends up agreeing with libvirt
#     about the migration and frees its class.
# Without the budget the loop waits for the sum of each cycle's calls (a
# listing, then reads and sets per migration, and a cycle again per event).
. "$(dirname "$0")/virtlib.sh"
command -v curl >/dev/null 2>&1 || t_skip "curl is missing"
command -v python3 >/dev/null 2>&1 || t_skip "python3 is missing"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
scrapes="$T_TMP/scrapes.txt"
proxy_sock="$T_TMP/libvirt-slow.sock"
delay_file="$T_TMP/delay_ms"
# Each request 400 ms late: a listing (two requests with one guest) takes
# 0.8 s, well inside the 2 s call timeout, and a cycle's calls add up to more
# than the loop's second between cycles.
SLOW_MS=400
SLOW_S=10
# The budget lets the loop wait about 1 s at a stretch, plus the call then in
# progress (0.8 s at most here); the agent before it: 4.7 s.
MAX_SCRAPE_S=2.5

# The proxy: requests to libvirtd are held for the delay in $delay_file (read
# per chunk, in order); answers and events come back at once.
echo 0 >"$delay_file"
python3 - "$proxy_sock" "$VIRTLAB_DIR/hv1/run/libvirt-sock" "$delay_file" \
	>"$T_TMP/proxy.out" 2>&1 <<'EOF' &
import asyncio, sys

listen, target, delay_file = sys.argv[1:4]

def delay_s():
    try:
        with open(delay_file) as f:
            return int(f.read().strip() or 0) / 1000.0
    except (OSError, ValueError):
        return 0.0

async def pump(reader, writer, delayed):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    while True:
        data = await reader.read(65536)
        queue.put_nowait((loop.time() + (delay_s() if delayed else 0), data))
        if not data:
            break
    await sender

async def client(creader, cwriter):
    try:
        sreader, swriter = await asyncio.open_unix_connection(target)
    except OSError:
        cwriter.close()
        return
    await asyncio.gather(pump(creader, swriter, True), pump(sreader, cwriter, False),
                         return_exceptions=True)

async def main():
    server = await asyncio.start_unix_server(client, path=listen)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
EOF
T_BG_PIDS+=("$!")
t_wait_until 10 grep -q listening "$T_TMP/proxy.out" || t_fail "the proxy did not start: $(cat "$T_TMP/proxy.out")"

# metric NAME [LABELS]: the sample's value (empty if absent).
metric() {
	local name=$1
	[ -n "${2:-}" ] && name="$1{$2}"
	ip netns exec "$LAB_NS_HV1" curl -s --max-time 10 http://127.0.0.1:9465/metrics |
		awk -v n="$name" '$1 == n { print $2 }'
}

# 80 Mbit/s against the 5 MiB/s the guest dirties: ~20 s for its 64 MiB, a
# time the cap sets; the slow phase ends well before.
t_config "$conf" migration_aggregate_mbps=80 migration_max_mbps=80 migration_min_mbps=10
echo "libvirt_uri = qemu+unix:///system?socket=$proxy_sock" >>"$conf"
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_listen "$LAB_NS_HV1" 9465 || t_fail "the agent does not serve /metrics"
t_wait_log "$log" "libvirt: connected" 20 || t_fail "agent did not connect through the proxy"

V_MEM_MIB=64 v_guest ms-slow 5
v_migrate_bg ms-slow
t_wait_log "$log" "ms-slow: flow .* in class mig:0" 20 || t_fail "flow never attributed"
t_wait_log "$log" "ms-slow: libvirt migration speed" 10 || t_fail "no speed set before the slow phase"
errors0=$(metric migshaper_errors_total 'kind="libvirt"')
bytes0=$(v_class_bytes 100)

echo "$SLOW_MS" >"$delay_file"
v_scrape_for "$SLOW_S" "$scrapes"
rate=$(v_class_rate 100)
bytes1=$(v_class_bytes 100)
nflows=$(v_flows)
deferred=$(metric migshaper_libvirt_calls_deferred_total)
errors1=$(metric migshaper_errors_total 'kind="libvirt"')
echo 0 >"$delay_file"

n=$(wc -l <"$scrapes")
bad=$(awk '$1 != 200' "$scrapes" | wc -l)
max=$(awk '$2 > m { m = $2 } END { printf "%.3f", m }' "$scrapes")
slow_lines=$(grep -c "answers slowly" "$log")
t_log "libvirtd ${SLOW_MS} ms slow for ${SLOW_S} s: $n scrapes, $bad failed, longest ${max} s;" \
	"calls deferred $deferred, 'answers slowly' $slow_lines times; libvirt errors $errors0 -> $errors1;" \
	"class 1:100 rate $rate, bytes $bytes0 -> $bytes1, flows $nflows"
grep -m1 "answers slowly" "$log" | sed "s/^/[$T_NAME]   /"
[ -n "$deferred" ] || t_fail "no migshaper_libvirt_calls_deferred_total on /metrics"
[ "$deferred" -gt 0 ] || t_fail "no call was deferred: the loop waited on every call"
[ "$slow_lines" -ge 1 ] || t_fail "the agent never said libvirt answers slowly"
[ -n "$errors0" ] && [ "$errors1" = "$errors0" ] || t_fail "libvirt errors went $errors0 -> $errors1: a deferred call counted as one"
grep -q "no answer from .* within" "$log" && t_fail "a call timed out: the delay should stay within the call timeout"
[ "$rate" = 80Mbit ] || t_fail "the class changed or vanished while libvirtd was slow"
[ "$nflows" -ge 1 ] || t_fail "the flow entry vanished while libvirtd was slow"
[ "$bytes1" -gt "$bytes0" ] || t_fail "no migration traffic in the class while libvirtd was slow"
[ "$n" -ge 5 ] || t_fail "only $n scrapes ran"
[ "$bad" -eq 0 ] || t_fail "$bad of $n scrapes got no answer"
t_wait_log "$log" "libvirt: calling .* again" 10 || t_fail "the agent never called libvirt again after deferring"

v_agrees_with_libvirt ms-slow "$log"
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "the agent exited with $T_STOP_RC"
t_num_le "$max" "$MAX_SCRAPE_S" ||
	t_fail_timing "a scrape took ${max} s while libvirtd was slow (bound ${MAX_SCRAPE_S} s)"
t_log "PASS"
