#!/usr/bin/env bash
# Downtime of the same guest at the same cap, with speed coordination (QEMU
# paced by libvirt just under its class) and without (tc alone limits it).
# Coordination must not be worse. Downtimes come from the job-completed stats
# the agent logs.
. "$(dirname "$0")/virtlib.sh"
v_setup

log="$T_TMP/agent.log"
# 64 MiB (62 of them dirtied, at 5 MiB/s): the downtime is what QEMU's last
# pass sends with the guest paused, a dirty set it lets grow to at most
# 300 ms of its bandwidth, whatever the RAM. A 64 MiB guest reaches it in the
# same few passes as a 256 MiB one (its first pass takes 3 s at the cap, not
# 12), and the agent has set the speed long before.
V_MEM_MIB=64 v_guest ms-dt 5

# run_once COORDINATION: migrates ms-dt to hv2 and back; the downtime (ms) is
# left in RUN_DOWNTIME (a variable, not output: t_fail must end the test).
run_once() {
	local conf="$T_TMP/agent-$1.conf" n
	v_config "$conf" migration_aggregate_mbps=200 migration_max_mbps=200 migration_min_mbps=20 \
		speed_coordination="$1"
	: >"$log"
	t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
	t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
	v_migrate_bg ms-dt
	wait "$T_LAST_PID" || t_fail "migration failed: $(cat "$T_TMP/migrate-ms-dt.log")"
	t_wait_log "$log" "ms-dt: outgoing migration completed.*downtime" 10 ||
		t_fail "no downtime logged: $(grep ms-dt "$log" | tail -3)"
	if [ "$1" = 1 ]; then
		grep -q "ms-dt: libvirt migration speed 22 MiB/s" "$log" || t_fail "speed was not set"
	else
		! grep -q "libvirt migration speed" "$log" || t_fail "speed set with coordination off"
	fi
	t_agent_stop "$T_AGENT_PID"
	v_migrate_back ms-dt || t_fail "migrating back failed"
	n=$(grep -o 'downtime [0-9]* ms' "$log" | tail -n 1 | awk '{print $2}')
	RUN_DOWNTIME=$n
}

run_once 1
with=$RUN_DOWNTIME
run_once 0
without=$RUN_DOWNTIME
t_log "downtime with coordination: $with ms, without: $without ms"
[ -n "$with" ] && [ -n "$without" ] || t_fail "a downtime is missing"
# "Not worse", with room for run-to-run noise of the switchover itself.
[ "$with" -le $((without * 12 / 10 + 20)) ] || t_fail "coordination made downtime worse"
t_log "PASS"
