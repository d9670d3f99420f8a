#!/usr/bin/env bash
# SIGHUP re-reads the config: a broken file changes nothing (tc classes and
# BPF port map read back), a valid one changes exactly what it says.
. "$(dirname "$0")/lib.sh"
t_setup need_agent

PIN="/sys/fs/bpf/migshaper/$LAB_HV1_IF"
conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"

class_line() { ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" classid "$1"; }
# port_flags PORT: the classifier's port-map byte for PORT (decimal).
port_flags() {
	bpftool -j map lookup pinned "$PIN/ms_ports" key $(($1 & 255)) $(($1 >> 8)) 0 0 |
		jq '.formatted.value'
}
refusals_at_least() { [ "$(grep -c "configuration not changed" "$log")" -ge "$1" ]; }

t_config "$conf" migration_aggregate_mbps=800 migration_max_mbps=800
echo "libvirt_uri = none" >>"$conf"
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
class_line 1:20 | grep -q 'rate 800Mbit ceil 800Mbit' || t_fail "aggregate not at 800: $(class_line 1:20)"
before_tc=$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF")
before_port=$(port_flags 2222)
t_log "port 2222 flags before: $before_port"

# A broken file: one good change and one bad value. Neither may apply.
t_config "$conf" migration_aggregate_mbps=600 migration_max_mbps=600 mgmt_ports=22,2222 \
	link_mbps=lots
kill -HUP "$T_AGENT_PID"
t_wait_log "$log" "configuration not changed" 5 || t_fail "no refusal logged"
grep "configuration not changed" "$log" | grep -q link_mbps || t_fail "refusal does not name link_mbps"
[ "$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF")" = "$before_tc" ] ||
	t_fail "tc classes changed after a broken reload"
[ "$(port_flags 2222)" = "$before_port" ] || t_fail "port map changed after a broken reload"

# A cross-key violation is refused the same way.
t_config "$conf" migration_aggregate_mbps=900 migration_max_mbps=900
kill -HUP "$T_AGENT_PID"
t_wait_until 5 refusals_at_least 2 || t_fail "second refusal missing"
[ "$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF")" = "$before_tc" ] ||
	t_fail "tc classes changed after a refused reload"

# A metrics port that is already taken refuses the whole reload, and the old
# endpoint keeps serving.
t_bg "$LAB_NS_HV1" "$T_TMP/squatter.out" python3 -m http.server 9466 --bind 127.0.0.1
t_wait_listen "$LAB_NS_HV1" 9466 || t_fail "the port squatter did not start"
t_config "$conf" migration_aggregate_mbps=600 migration_max_mbps=600
{
	echo "libvirt_uri = none"
	echo "metrics_port = 9466"
} >>"$conf"
kill -HUP "$T_AGENT_PID"
t_wait_until 5 refusals_at_least 3 || t_fail "a taken metrics port was not refused"
grep "configuration not changed" "$log" | tail -n 1 | grep -q "metrics" || t_fail "refusal does not name metrics"
[ "$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF")" = "$before_tc" ] ||
	t_fail "tc classes changed after a refused reload"
ip netns exec "$LAB_NS_HV1" curl -sf http://127.0.0.1:9465/metrics | grep -q '^migshaper_' ||
	t_fail "/metrics stopped serving after a refused reload"

# A valid file applies: the aggregate class and the port map change.
t_config "$conf" migration_aggregate_mbps=600 migration_max_mbps=600 mgmt_ports=22,2222,54321
echo "libvirt_uri = none" >>"$conf"
kill -HUP "$T_AGENT_PID"
t_wait_log "$log" "configuration reloaded" 5 || t_fail "valid reload not logged"
class_line 1:20 | grep -q 'rate 600Mbit ceil 600Mbit' || t_fail "aggregate not at 600: $(class_line 1:20)"
after_port=$(port_flags 2222)
t_log "port 2222 flags after: $after_port"
[ $((after_port & 1)) -eq 1 ] || t_fail "port 2222 is not a management port after reload"
[ $((before_port & 1)) -eq 0 ] || t_fail "port 2222 was a management port before"

t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exit status $T_STOP_RC"
t_log "PASS"
