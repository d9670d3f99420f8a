#!/usr/bin/env bash
# The outage scenario -> tests/bench/out/outage.json
#   {"without_agent": R, "with_agent": R}
#   R = {"calls": N, "failed": N, "p99_ms": F, "declared_down": N,
#        "migrations_completed": N, "migrations_total": N}
# Several real QEMU migrations at once at libvirt's default speed (no limit)
# leave hv1 through its 1 Gbit/s uplink while a manager (tests/tools/mgremu
# on hv1's ssh port, tests/lab/virtlib.sh v_migrations_run:
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
V_DOWN_MIN_S=${OUTAGE_DOWN_MIN_S:-10}
MIG_TIMEOUT_S=${OUTAGE_MIG_TIMEOUT_S:-240}
OUT=$T_ROOT/tests/bench/out/outage.json
mkdir -p "$(dirname "$OUT")"

v_setup
v_mgremu_host
names=()
for ((i = 0; i < GUESTS; i++)); do
	names+=("ms-out$i")
	V_MEM_MIB=$GUEST_MIB v_guest "ms-out$i" 5
done

V_HB=0 v_migrations_run without "$MIG_TIMEOUT_S" "${names[@]}"
t_log "without agent: $(cat "$T_TMP/without.json")"
v_migrate_home "${names[@]}"

conf=$T_TMP/agent.conf
printf '[global]\nlink_mbps = %s\nlibvirt_uri = %s\n' $((LAB_WIRE_MBIT * 95 / 100)) "$V_HV1_URI" >"$conf"
t_agent_start "$conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
t_wait_log "$T_TMP/agent.log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
V_HB=0 v_migrations_run with "$MIG_TIMEOUT_S" "${names[@]}"
t_log "with agent:    $(cat "$T_TMP/with.json")"
jq -r '.migrations_completed < .migrations_total' "$T_TMP/with.json" | grep -q true &&
	tail -n 30 "$T_TMP/agent.log"

pick='{calls, failed, p99_ms, declared_down, migrations_completed, migrations_total}'
jq -n --slurpfile wo "$T_TMP/without.json" --slurpfile w "$T_TMP/with.json" \
	"{without_agent: (\$wo[0] | $pick), with_agent: (\$w[0] | $pick)}" >"$OUT"
real=$(jq -r '.without_agent.declared_down >= 1' "$OUT")
cured=$(jq -r '.with_agent.declared_down == 0 and .with_agent.migrations_completed == .with_agent.migrations_total' "$OUT")
t_log "the scenario is real (declared down without the agent): $real; cured with it: $cured"
