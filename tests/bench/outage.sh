#!/usr/bin/env bash
# The outage scenario -> tests/bench/out/outage.json
#   {"without_agent": R, "with_agent": R}
#   R = {"calls": N, "failed": N, "p99_ms": F, "declared_down": N,
#        "migrations_completed": N, "migrations_total": N}
# Several real QEMU migrations at once at libvirt's default speed (no limit)
# leave hv1 through its 1 Gbit/s uplink while a manager (tests/tools/mgremu:
# a stats call every second over a persistent connection, every 5th over a
# fresh one, 40 kB replies, 2 s call timeout) watches hv1, first without the
# agent, then with it at its defaults (only link_mbps, the wire's rate, is
# set: a veth reports no physical speed). Goal: without_agent.declared_down
# >= 1 (the scenario is real), with_agent.declared_down = 0 and every
# migration completed.
#
# Why these values:
# - The switch port: OUTAGE_SWITCH_PKTS (default 100) full-size packets of
#   buffer, ~150 kB or 1.2 ms at 1 Gbit/s: 1 Gbit access switches share 2-4
#   MB of packet memory between 24-48 ports. The other lab tests keep a NIC's
#   1000-packet FIFO.
# - The manager declares hv1 non-responsive after 2 failed calls in a row
#   (oVirt's VDSAttemptsToResetCount) that span at least OUTAGE_DOWN_MIN_S
#   (default 10 s; oVirt's TimeoutToResetVdsInSeconds is 60 s, longer than
#   these migrations last). Calls come every second, not oVirt's 3 s, for
#   more samples; both make this manager stricter than oVirt's.
# - OUTAGE_GUESTS (default 3) guests of OUTAGE_GUEST_MIB (default 1024) MiB,
#   all of it touched, dirtying 5 MiB/s: vdsm's max_outgoing_migrations is 3.
LAB_WIRE_QUEUE_PKTS=${OUTAGE_SWITCH_PKTS:-100}
. "$(dirname "$0")/../lab/virtlib.sh"

GUESTS=${OUTAGE_GUESTS:-3}
GUEST_MIB=${OUTAGE_GUEST_MIB:-1024}
DOWN_MIN_S=${OUTAGE_DOWN_MIN_S:-10}
MIG_TIMEOUT_S=${OUTAGE_MIG_TIMEOUT_S:-240}
MG=$T_ROOT/$BUILD/tools/mgremu
OUT=$T_ROOT/tests/bench/out/outage.json
mkdir -p "$(dirname "$OUT")"
[ -x "$MG" ] || t_fail "$MG is not built (make $BUILD/tools/mgremu)"

v_setup
t_bg "$LAB_NS_HV1" "$T_TMP/mgremu-host.out" "$MG" host --listen "$LAB_HV1_IP" --port "$T_MGMT_PORT"
t_wait_listen "$LAB_NS_HV1" "$T_MGMT_PORT" || t_fail "mgremu host not listening"
names=()
for ((i = 0; i < GUESTS; i++)); do
	names+=("ms-out$i")
	V_MEM_MIB=$GUEST_MIB v_guest "ms-out$i" 5
done

_lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
_all_gone() {
	local p
	for p in "$@"; do _t_gone "$p" || return 1; done
}

# phase LABEL: the migrations under the manager's eye; R in $T_TMP/LABEL.json.
phase() {
	local label=$1 g pids=() done=0 mgr res
	ip netns exec "$LAB_NS_MGR" "$MG" manager --connect "$LAB_HV1_IP" --port "$T_MGMT_PORT" \
		--duration-s $((MIG_TIMEOUT_S + 30)) --interval-ms 1000 --down-min-s "$DOWN_MIN_S" --json \
		--trace "$T_TMP/mgr-$label.trace" >"$T_TMP/mgr-$label.json" 2>"$T_TMP/mgr-$label.err" &
	mgr=$!
	T_BG_PIDS+=("$mgr")
	# Two calls before the migrations: the manager's view of the idle host.
	t_wait_until 5 _lines_ge "$T_TMP/mgr-$label.trace" 2 ||
		t_fail "$label: the manager made no calls"
	for g in "${names[@]}"; do
		v_migrate_bg "$g"
		pids+=("$T_LAST_PID")
	done
	# Bounded: a migration still running after MIG_TIMEOUT_S is aborted (and
	# counts as not completed).
	t_wait_until "$MIG_TIMEOUT_S" _all_gone "${pids[@]}" ||
		for g in "${names[@]}"; do virtlab_virsh hv1 domjobabort "$g" >/dev/null 2>&1; done
	for p in "${pids[@]}"; do wait "$p" && done=$((done + 1)); done
	# Two more calls after the last migration ended, then the manager's report.
	local n
	n=$(wc -l <"$T_TMP/mgr-$label.trace")
	t_wait_until 5 _lines_ge "$T_TMP/mgr-$label.trace" $((n + 2)) || true
	kill -TERM "$mgr" 2>/dev/null
	wait "$mgr"
	res=$(cat "$T_TMP/mgr-$label.json")
	[ -n "$res" ] || t_fail "$label: the manager gave no result: $(cat "$T_TMP/mgr-$label.err")"
	if [ "$done" -lt "${#names[@]}" ]; then
		for g in "${names[@]}"; do t_log "$label: $g: $(tr '\n' ' ' <"$T_TMP/migrate-$g.log")"; done
		[ -f "$T_TMP/agent.log" ] && tail -n 40 "$T_TMP/agent.log"
	fi
	jq -c --argjson done "$done" --argjson total "${#names[@]}" \
		'{calls, failed, p99_ms, declared_down, migrations_completed: $done, migrations_total: $total}' \
		<<<"$res" >"$T_TMP/$label.json" || t_fail "$label: bad manager result: $res"
	t_log "$label: $(cat "$T_TMP/$label.json")"
}

# migrate_home: every guest back on hv1 (the way back is not shaped).
migrate_home() {
	local g
	for g in "${names[@]}"; do
		if [ "$(virtlab_virsh hv2 domstate "$g" 2>/dev/null)" = running ]; then
			v_migrate_back "$g" || t_fail "$g: migration back to hv1 failed"
		elif [ "$(virtlab_virsh hv1 domstate "$g" 2>/dev/null)" = paused ]; then
			virtlab_virsh hv1 resume "$g" >/dev/null || t_fail "$g: cannot resume it on hv1"
		fi
	done
}

phase without
migrate_home

conf=$T_TMP/agent.conf
printf '[global]\nlink_mbps = %s\nlibvirt_uri = %s\n' $((LAB_WIRE_MBIT * 95 / 100)) "$V_HV1_URI" >"$conf"
t_agent_start "$conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
t_wait_log "$T_TMP/agent.log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
phase with

jq -n --slurpfile wo "$T_TMP/without.json" --slurpfile w "$T_TMP/with.json" \
	'{without_agent: $wo[0], with_agent: $w[0]}' >"$OUT"
real=$(jq -r '.without_agent.declared_down >= 1' "$OUT")
cured=$(jq -r '.with_agent.declared_down == 0 and .with_agent.migrations_completed == .with_agent.migrations_total' "$OUT")
t_log "the scenario is real (declared down without the agent): $real; cured with it: $cured"
