#!/usr/bin/env bash
# libvirtd on hv1 hangs (SIGSTOP: it keeps its sockets, the kernel still
# completes connects, nothing answers). The agent's loop must not wait on it:
#   1. The agent starts while libvirtd is stopped: it gets ready and serves
#      /metrics; after SIGCONT its pending connection attempt completes.
#   2. libvirtd stops in the middle of a migration, for less than keepalive
#      takes to close the connection (~20 s): the agent notices (a call gets
#      no answer in time), keeps the migration's class, rate and flows, and
#      answers every /metrics scrape quickly all along; after SIGCONT the
#      connection answers again, and the agent ends up agreeing with libvirt
#      about the migration and frees the class. (A daemon that stays silent
#      longer is closed by keepalive and reconnected to, like a restarted one:
#      test_virt_libvirtd_restart.sh.)
# Reports the longest scrape while libvirtd was stopped, the time to notice
# the hang, and the time until libvirt answers again after SIGCONT.
. "$(dirname "$0")/virtlib.sh"
command -v curl >/dev/null 2>&1 || t_skip "curl is missing"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
scrapes="$T_TMP/scrapes.txt"
# A scrape waits at most for one call (the agent's call timeout, 2 s).
MAX_SCRAPE_S=5
# Four call timeouts: after the first call timed out, the agent's 1 s cycle
# makes ~5 more calls while libvirtd stays stopped, each of which must fail
# at once. Well short of keepalive (5 s x 3, ~20 s), also on a loaded machine.
HANG_S=8

hung_pid=
_hang_cleanup() {
	local rc=$?
	# A stopped daemon would make the teardown wait for it.
	[ -n "$hung_pid" ] && kill -CONT "$hung_pid" 2>/dev/null
	(exit $rc)
	t_cleanup
}
trap _hang_cleanup EXIT

now_s() { date +%s.%N; }
# log_ts PATTERN [N]: the agent's timestamp (epoch seconds) of the Nth line matching PATTERN.
log_ts() { grep -- "$1" "$log" | sed -n "${2:-1}p" | cut -d' ' -f1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

libvirtd_stop() {
	hung_pid=$(cat "$VIRTLAB_DIR/hv1/run/libvirtd.pid")
	kill -STOP "$hung_pid" || t_fail "cannot stop libvirtd"
}
libvirtd_cont() {
	kill -CONT "$hung_pid"
	hung_pid=
}

# check_scrapes WHAT: every scrape in $scrapes answered, none slower than MAX_SCRAPE_S.
check_scrapes() {
	local n bad max
	n=$(wc -l <"$scrapes")
	bad=$(awk '$1 != 200' "$scrapes" | wc -l)
	max=$(awk '$2 > m { m = $2 } END { printf "%.3f", m }' "$scrapes")
	t_log "$1: $n scrapes, $bad failed, longest ${max} s"
	[ "$n" -ge 5 ] || t_fail "$1: only $n scrapes ran"
	[ "$bad" -eq 0 ] || t_fail "$1: $bad of $n scrapes got no answer"
	t_num_le "$max" "$MAX_SCRAPE_S" || t_fail_timing "$1: a scrape took ${max} s: the loop waited on libvirt"
	: >"$scrapes"
}

# --- 1. Starting while libvirtd is stopped -------------------------------------
# 80 Mbit/s: libvirt's 8 MiB/s against the 5 MiB/s the guest dirties, ~20 s
# for its 64 MiB (its size is not what is measured), a time the cap sets, not
# the machine: the migration runs through the hang and on past SIGCONT (~9 s
# after its start).
v_config "$conf" migration_aggregate_mbps=80 migration_max_mbps=80 migration_min_mbps=10
libvirtd_stop
t_agent_start "$conf" "$log" || t_fail "agent did not get ready while libvirtd was stopped"
t_wait_listen "$LAB_NS_HV1" 9465 || t_fail "the agent does not serve /metrics"
v_scrape_for 3 "$scrapes"
check_scrapes "started with libvirtd stopped"
grep -q "libvirt: connected" "$log" && t_fail "connected to a stopped libvirtd?"
t_cont=$(now_s)
libvirtd_cont
t_wait_log "$log" "libvirt: connected" 30 || t_fail "agent did not connect after SIGCONT"
t_log "connected $(secs "$t_cont" "$(log_ts 'libvirt: connected')") s after SIGCONT"

# --- 2. Hanging in the middle of a migration -----------------------------------
V_MEM_MIB=64 v_guest ms-hang 5
v_migrate_bg ms-hang
t_wait_log "$log" "ms-hang: flow .* in class mig:0" 20 || t_fail "flow never attributed"
bytes0=$(v_class_bytes 100)

t_stop=$(now_s)
libvirtd_stop
v_scrape_for "$HANG_S" "$scrapes" &
scraper=$!
T_BG_PIDS+=("$scraper")
t_wait_log "$log" "no answer from .* within [0-9]* ms" 10 || t_fail "agent did not notice the hang"
t_log "hang noticed $(secs "$t_stop" "$(log_ts 'no answer from')") s after SIGSTOP:" \
	"$(grep -m1 'no answer from' "$log" | sed 's/.*warn: //')"
t_wait_log "$log" "keeping the classes of 1 outgoing" 5 || t_fail "the coordinator was not told"
sleep 2
rate=$(v_class_rate 100)
bytes1=$(v_class_bytes 100)
nflows=$(v_flows)
t_log "libvirtd stopped: class 1:100 rate $rate, bytes $bytes0 -> $bytes1, flows $nflows"
[ "$rate" = 80Mbit ] || t_fail "the class changed or vanished while libvirtd was stopped"
[ "$nflows" -ge 1 ] || t_fail "the flow entry vanished while libvirtd was stopped"
[ "$bytes1" -gt "$bytes0" ] || t_fail "no migration traffic in the class while libvirtd was stopped"
wait "$scraper"
check_scrapes "libvirtd stopped for ${HANG_S} s"
timeouts=$(grep -c "no answer from" "$log")
[ "$timeouts" -eq 1 ] || t_fail "$timeouts calls timed out: a stalled connection must fail calls at once"

t_cont=$(now_s)
libvirtd_cont
t_wait_log "$log" "answered after" 20 || t_fail "libvirt never answered the stalled call"
t_log "libvirt answered again $(secs "$t_cont" "$(log_ts 'answered after')") s after SIGCONT:" \
	"$(grep -m1 'answered after' "$log" | sed 's/.*info: //')"
[ "$(grep -c 'libvirt: connected' "$log")" -eq 1 ] ||
	t_fail "the agent reconnected: the connection should have outlived a ${HANG_S} s hang"

v_agrees_with_libvirt ms-hang "$log"
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "the agent exited with $T_STOP_RC"
t_log "PASS"
