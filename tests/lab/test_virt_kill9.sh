#!/usr/bin/env bash
# kill -9 of the agent during three real migrations, then a restart.
# While the agent is down the pinned classifier and the HTB tree go on
# (fail-static): heartbeats keep 0 misses, the classes keep their rates and
# carry the migrations. The restarted agent adopts the tree and the
# migrations: a `tc monitor` log taken across the restart shows no qdisc or
# class deleted or re-created, and the migrations complete.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf="$T_TMP/agent.conf"
log1="$T_TMP/agent1.log"
log2="$T_TMP/agent2.log"
mon="$T_TMP/tc-monitor.txt"
# 450 Mbit/s fair: 150 each (16 MiB/s against 5 MiB/s dirtied), ~13 s per
# 128 MiB guest (their size is not what is measured): three times what the
# kill, 3 s dead and the restart's adoption take after the start (~4 s), and
# within virsh's 60 s.
v_config "$conf" migration_aggregate_mbps=450 migration_max_mbps=450 migration_min_mbps=20 policy=fair
t_agent_start "$conf" "$log1" || t_fail "agent did not get ready"
t_wait_log "$log1" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
t_hb_server
for g in ms-a ms-b ms-c; do V_MEM_MIB=128 v_guest "$g" 5; done

# The heartbeat runs from the migrations' start until they have ended and
# their classes are gone (SIGINT then ends it); its 90 s (past virsh's 60 s
# and the waits after) is only a bound.
ip netns exec "$LAB_NS_MGR" timeout 100 "$HB" client --connect "$LAB_HV1_IP" \
	--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s 90 --json >"$T_TMP/hb.json" &
hb_pid=$!
T_BG_PIDS+=("$hb_pid")
pids=()
for g in ms-a ms-b ms-c; do
	v_migrate_bg "$g"
	pids+=("$T_LAST_PID")
done
classes_at_150() {
	[ "$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" |
		grep -c '^class htb 1:1[0-9a-f][0-9a-f] .*rate 150Mbit')" -eq 3 ]
}
t_wait_until 30 classes_at_150 || t_fail "3 classes at 150Mbit never existed: $(v_mig_classes)"
t_wait_until 20 v_log_count_ge "$log1" "flow .* in class mig:" 3 || t_fail "flows not attributed"
mig_classes() { ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" | grep '^class htb 1:1[0-9a-f][0-9a-f] ' | sort; }
before=$(mig_classes)

kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=
b0=$(v_class_bytes 100)
# The agent stays dead for a while: the kernel keeps shaping on its own.
sleep 3
b1=$(v_class_bytes 100)
[ "$(mig_classes)" = "$before" ] || t_fail "the classes changed while the agent was dead"
[ "${b1:-0}" -gt "${b0:-0}" ] || t_fail "no migration traffic in class 1:100 while the agent was dead"
t_log "agent dead: 3 classes unchanged, class 1:100 carried $(((b1 - b0) / 1000)) kB in 3 s"

t_tc_watch_start "$mon"
t0=$(t_now_ns)
t_agent_start "$conf" "$log2" || t_fail "restarted agent did not get ready"
t_wait_log "$log2" "libvirt: connected" 15 || t_fail "restarted agent did not connect to libvirt"
t_wait_until 10 v_log_count_ge "$log2" "outgoing migration adopted" 3 ||
	t_fail "the restarted agent did not adopt the 3 migrations"
# One cycle after connecting: the scan has reconciled the adopted migrations.
t_wait_until 10 v_log_count_ge "$log2" "libvirt migration speed" 3 || t_fail "speeds not re-asserted"
t1=$(t_now_ns)
t_tc_watch_stop
changes=$(grep -v 'dev lo' "$mon")
t_log "restart to reconciled: $(((t1 - t0) / 1000000)) ms; tc changes: $(echo "$changes" | grep -c .)"
echo "$changes" | sed 's/^/    /' | cut -c1-160
if echo "$changes" | grep -q '^deleted'; then t_fail "the restart deleted a qdisc, class or filter"; fi
if echo "$changes" | grep -q '^qdisc htb 1: root'; then t_fail "the restart re-created the root qdisc"; fi
if grep -q "outgoing migration found" "$log2"; then
	t_fail "a migration was found afresh instead of adopted: $(grep 'migration found' "$log2")"
fi

for p in "${pids[@]}"; do wait "$p" || t_fail "a migration failed: $(cat "$T_TMP"/migrate-*.log)"; done
for g in ms-a ms-b ms-c; do
	[ "$(virtlab_virsh hv2 domstate "$g")" = running ] || t_fail "$g is not running on hv2"
done
t_wait_until 10 v_mig_classes_are 0 || t_fail "classes not freed: $(v_mig_classes) left"
t_wait_until 10 v_log_count_ge "$log2" "outgoing migration completed" 3 ||
	t_fail "the restarted agent did not see the 3 migrations complete"
kill -INT "$hb_pid"
wait "$hb_pid"
t_log "heartbeat: $(cat "$T_TMP/hb.json")"
[ "$(jq .missed "$T_TMP/hb.json")" = 0 ] || t_fail "heartbeats missed"
t_log "PASS"
