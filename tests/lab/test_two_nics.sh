#!/usr/bin/env bash
# One owner per migration: hv1 has a management NIC (the lab's uplink) and a
# migration NIC (a second wire to hv2, 198.18.1.0/24), one agent on each,
# both with the default metrics port. ms-a migrates over the migration
# network (--migrateuri), ms-b over the management one. Each migration is
# controlled by the agent of the NIC its stream leaves through only: that
# agent decides it is its own and sets its libvirt speed; the other leaves it
# (no class, speed or escalation). Speeds do not flap: an agent sets a
# migration's speed at most once per change of its class's allocation.
# /metrics answers for both agents (the second on the next free port).
. "$(dirname "$0")/virtlib.sh"
v_setup

MIG_NS=$LAB_PREFIX-wire2
MIG_IF=$LAB_PREFIX-hv1-mig
MIG_HV2_IF=$LAB_PREFIX-hv2-mig
MIG_HV1_IP=198.18.1.1
MIG_HV2_IP=198.18.1.2
mig_agent=

_two_nics_teardown() {
	[ -n "$mig_agent" ] && t_agent_stop "$mig_agent"
	_v_teardown
	ip netns del "$MIG_NS" 2>/dev/null
}
T_TEARDOWN=_two_nics_teardown

# The migration network: hv1 -- wire2 (a bridge) -- hv2.
ip netns add "$MIG_NS" || t_fail "netns $MIG_NS"
ip -n "$MIG_NS" link add br0 type bridge stp_state 0 forward_delay 0 &&
	ip -n "$LAB_NS_HV1" link add "$MIG_IF" type veth peer name w2-hv1 netns "$MIG_NS" &&
	ip -n "$LAB_NS_HV2" link add "$MIG_HV2_IF" type veth peer name w2-hv2 netns "$MIG_NS" &&
	ip -n "$MIG_NS" link set w2-hv1 master br0 up &&
	ip -n "$MIG_NS" link set w2-hv2 master br0 up &&
	ip -n "$MIG_NS" link set br0 up &&
	ip -n "$LAB_NS_HV1" addr add "$MIG_HV1_IP/24" dev "$MIG_IF" &&
	ip -n "$LAB_NS_HV2" addr add "$MIG_HV2_IP/24" dev "$MIG_HV2_IF" &&
	ip -n "$LAB_NS_HV1" link set "$MIG_IF" up &&
	ip -n "$LAB_NS_HV2" link set "$MIG_HV2_IF" up &&
	lab_nic_root "$LAB_NS_HV1" "$MIG_IF" 1 && lab_nic_root "$LAB_NS_HV2" "$MIG_HV2_IF" 1 ||
	t_fail "migration network"
t_wait_until 10 lab_reachable "$LAB_NS_HV1" "$MIG_HV2_IP" || t_fail "hv1 cannot reach $MIG_HV2_IP"

conf="$T_TMP/agent.conf"
mgmt_log="$T_TMP/agent-mgmt.log"
mig_log="$T_TMP/agent-mig.log"
# 200 Mbit/s for migrations: each 256 MiB guest takes ~10 s.
v_config "$conf" migration_aggregate_mbps=200 migration_max_mbps=200 migration_min_mbps=20 policy=fair
t_agent_start "$conf" "$mig_log" --iface "$MIG_IF" || t_fail "the migration NIC's agent did not get ready"
mig_agent=$T_AGENT_PID
T_AGENT_PID=
t_agent_start "$conf" "$mgmt_log" || t_fail "the management NIC's agent did not get ready"
for l in "$mig_log" "$mgmt_log"; do
	t_wait_log "$l" "libvirt: connected" 15 || t_fail "an agent did not connect to libvirt ($l)"
done

# /metrics of both, each about its own interface.
mig_port=9465
mgmt_port=$(sed -n 's/.*metrics: port 9465 is taken.* port \([0-9]*\)$/\1/p' "$mgmt_log" | tail -n 1)
[ -n "$mgmt_port" ] || t_fail "the second agent did not move to a free metrics port: $(grep metrics "$mgmt_log")"
both_metrics=true
ip netns exec "$LAB_NS_HV1" curl -sf "http://127.0.0.1:$mig_port/metrics" | grep -q "iface=\"$MIG_IF\"" ||
	both_metrics=false
ip netns exec "$LAB_NS_HV1" curl -sf "http://127.0.0.1:$mgmt_port/metrics" | grep -q "iface=\"$LAB_HV1_IF\"" ||
	both_metrics=false
t_result both_metrics_up "$both_metrics"
[ "$both_metrics" = true ] || t_fail "/metrics does not answer for both agents (ports $mig_port, $mgmt_port)"

v_guest ms-a 5
v_guest ms-b 5
v_migrate_bg ms-a --migrateuri "tcp://$MIG_HV2_IP" --listen-address "$MIG_HV2_IP"
a_pid=$T_LAST_PID
v_migrate_bg ms-b
b_pid=$T_LAST_PID
wait "$a_pid" || t_fail "ms-a did not migrate: $(cat "$T_TMP/migrate-ms-a.log")"
wait "$b_pid" || t_fail "ms-b did not migrate: $(cat "$T_TMP/migrate-ms-b.log")"
for l in "$mig_log" "$mgmt_log"; do
	t_wait_until 10 v_log_count_ge "$l" "ms-b: outgoing migration completed" 1 ||
		t_fail "ms-b's end not seen ($l)"
done

# owner LOG GUEST: "here", "other" or "none", as the agent decided.
owner() {
	if grep -q "$2: its migration stream leaves through the shaped interface" "$1"; then
		echo here
	elif grep -q "$2: its migration stream leaves through another interface" "$1"; then
		echo other
	else
		echo none
	fi
}
[ "$(owner "$mig_log" ms-a)" = here ] || t_fail "the migration NIC's agent did not take ms-a: $(grep ms-a "$mig_log")"
[ "$(owner "$mgmt_log" ms-a)" = other ] || t_fail "the management NIC's agent did not leave ms-a: $(grep ms-a "$mgmt_log")"
[ "$(owner "$mgmt_log" ms-b)" = here ] || t_fail "the management NIC's agent did not take ms-b: $(grep ms-b "$mgmt_log")"
[ "$(owner "$mig_log" ms-b)" = other ] || t_fail "the migration NIC's agent did not leave ms-b: $(grep ms-b "$mig_log")"
t_log "each migration decided by its own NIC's agent"

# Speed changes against allocation changes, per agent and migration: the
# owner sets at least one speed and never more than one per class change;
# the other sets none.
flaps=0
speeds_total=0
allocs_total=0
for pair in "$mig_log ms-a" "$mgmt_log ms-b"; do
	l=${pair% *} g=${pair##* }
	speeds=$(grep -c "$g: libvirt migration speed [0-9]* MiB/s$" "$l")
	allocs=$(grep -c "$g: class mig:[0-9]* rate" "$l")
	t_log "$g: $speeds speed changes, $allocs allocation changes ($(basename "$l"))"
	[ "$speeds" -ge 1 ] || t_fail "$g: its agent never set its speed"
	[ "$speeds" -gt "$allocs" ] && flaps=$((flaps + speeds - allocs))
	speeds_total=$((speeds_total + speeds))
	allocs_total=$((allocs_total + allocs))
done
for pair in "$mgmt_log ms-a" "$mig_log ms-b"; do
	l=${pair% *} g=${pair##* }
	n=$(grep -c "$g: libvirt migration speed\|$g: max downtime\|$g: \(postcopy\|suspend\|abort\) (" "$l")
	flaps=$((flaps + n))
	[ "$n" -eq 0 ] || t_fail "$g was touched by the agent that does not own it: $(grep "$g: libvirt\|$g: max" "$l")"
done
t_result speed_flaps "$flaps"
t_result speed_changes_per_allocation_change "$(awk -v s="$speeds_total" -v a="$allocs_total" 'BEGIN { printf "%.2f", a ? s / a : s }')"
[ "$flaps" -eq 0 ] || t_fail "$flaps speed changes beyond one per allocation change"
# ms-a's stream went over the migration NIC.
tx=$(t_tx_bytes "$LAB_NS_HV1" "$MIG_IF")
[ "$tx" -gt $((200 * 1048576)) ] || t_fail "only $tx bytes left through $MIG_IF: ms-a did not use the migration network"
t_agent_stop "$mig_agent"
mig_agent=
[ "$T_STOP_RC" -eq 0 ] || t_fail "the migration NIC's agent exited with $T_STOP_RC"
t_log "PASS"
