#!/usr/bin/env bash
# Manager values are limits (Nova's pattern, Nova bug 1414559): a migration
# started with --bandwidth 1 is raised by "the manager" to 30 MiB/s after
# 5 s with virsh migrate-setspeed. The agent never sets more than the
# manager's value (libvirt's speed sampled all along), the migration's class
# shrinks to the manager's speed and follows its raise, and another
# migration gets the bandwidth freed meanwhile.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
# Fair: 150 Mbit/s each (16 MiB/s) for two; max 280 for one.
v_config "$conf" migration_aggregate_mbps=300 migration_max_mbps=280 migration_min_mbps=20 \
	policy=fair
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
# 128 MiB each (their size is not what is measured): ms-nova still migrates
# for ~15 s at 16 MiB/s after the raise (~60 speed samples), and ms-other,
# which dirties faster than its 16 MiB/s share, converges ~10 s after it has
# the link alone.
V_MEM_MIB=128 v_guest ms-nova 5
V_MEM_MIB=128 v_guest ms-other 20

# class_bps MINOR_HEX: the class's rate in bit/s (0 when absent).
class_bps() {
	local r
	r=$(v_class_rate "$1")
	case $r in
	*Gbit) echo $((${r%Gbit} * 1000000000)) ;;
	*Mbit) echo $((${r%Mbit} * 1000000)) ;;
	*Kbit) echo $((${r%Kbit} * 1000)) ;;
	*bit) echo "${r%bit}" ;;
	*) echo 0 ;;
	esac
}

# Libvirt's speed of ms-nova, sampled until the file stop exists: one line
# each, leaving out libvirt's default (unlimited) that it reads before the
# migration's own --bandwidth is applied.
sample_speed() {
	while [ ! -e "$T_TMP/stop" ]; do
		virtlab_virsh hv1 migrate-getspeed ms-nova 2>/dev/null | grep -vx 8796093022207
		sleep 0.2
	done >"$T_TMP/speeds"
}

# virsh is stopped after V_MIG_LIMIT_S (exit 124) while the migration goes on:
# on a loaded machine ms-other, sharing the link at 16 MiB/s, outlasted 60 s
# (as a 256 MiB guest).
# A migration slower than that is a timing failure; any other is functional.
export V_MIG_LIMIT_S=${V_MIG_LIMIT_S:-180}
mig_wait() { # PID NAME
	local rc=0
	wait "$1" || rc=$?
	[ $rc -eq 124 ] && t_fail_timing "$2 still migrating after $V_MIG_LIMIT_S s"
	[ $rc -eq 0 ] || t_fail "$2's migration failed (exit $rc): $(cat "$T_TMP/migrate-$2.log")"
}
v_migrate_bg ms-nova --bandwidth 1
nova_pid=$T_LAST_PID
t_wait_log "$log" "ms-nova: outgoing migration found; class mig:0" 15 || t_fail "ms-nova not found"
sample_speed &
sampler=$!
T_BG_PIDS+=("$sampler")
v_migrate_bg ms-other
other_pid=$T_LAST_PID
t_wait_log "$log" "ms-other: outgoing migration found; class mig:1" 15 || t_fail "ms-other not found"
t_wait_log "$log" "ms-nova: libvirt migration speed 1 MiB/s was set by its manager" 10 ||
	t_fail "the manager's speed was not noticed: $(grep ms-nova "$log" | tail -3)"

# At the manager's 1 MiB/s the class is 1 MiB/s / 93 % = 9.0 Mbit/s, and
# ms-other gets the 141 Mbit/s freed (up to max 280).
_capped() { [ "$(class_bps 100)" -gt 0 ] && [ "$(class_bps 100)" -lt 10000000 ]; }
t_wait_until 5 _capped || t_fail "ms-nova's class did not shrink: $(v_class_rate 100)"
_other_gains() { [ "$(class_bps 101)" -gt 150000000 ]; }
t_wait_until 5 _other_gains || t_fail "ms-other did not get the bandwidth freed: $(v_class_rate 101)"
t_log "manager at 1 MiB/s: ms-nova class $(v_class_rate 100), ms-other class $(v_class_rate 101)"

sleep 5 # Nova waits for the destination's network before raising the speed
before=$(grep -c . "$T_TMP/speeds")
virtlab_virsh hv1 migrate-setspeed ms-nova 30 || t_fail "migrate-setspeed"
t_wait_log "$log" "ms-nova: libvirt migration speed 30 MiB/s was set by its manager" 10 ||
	t_fail "the raise was not noticed: $(grep ms-nova "$log" | tail -3)"
# Its class follows: the allocation (150 Mbit/s, or 280 alone) under the
# manager's 30 MiB/s (270 Mbit/s).
_follows() { [ "$(class_bps 100)" -ge 140000000 ] && [ "$(class_bps 100)" -le 280000000 ]; }
t_wait_until 5 _follows || t_fail "ms-nova's class did not follow: $(v_class_rate 100)"
t_log "manager at 30 MiB/s: ms-nova class $(v_class_rate 100), libvirt speed $(virtlab_virsh hv1 migrate-getspeed ms-nova)"

mig_wait "$nova_pid" ms-nova
touch "$T_TMP/stop"
wait "$sampler"
# Samples above what the manager had set at the time (1, then 30 MiB/s).
t_result speed_over_manager_events $(($(head -n "$before" "$T_TMP/speeds" | awk '$1 > 1' | wc -l) +
	$(tail -n +"$((before + 1))" "$T_TMP/speeds" | awk '$1 > 30' | wc -l)))
mig_wait "$other_pid" ms-other
n=$(grep -c . "$T_TMP/speeds")
max=$(sort -n "$T_TMP/speeds" | tail -n 1)
t_log "libvirt speed of ms-nova: $n samples, $(sort -n "$T_TMP/speeds" | uniq -c | tr -s ' \n' ' ')"
[ "$n" -ge 10 ] || t_fail "only $n speed samples"
[ "$max" -le 30 ] || t_fail "libvirt speed reached $max MiB/s, over the manager's 30"
# Before the raise, nothing above the manager's 1.
over=$(grep . "$T_TMP/speeds" | head -n "$before" | awk '$1 > 1' | wc -l)
[ "$before" -ge 5 ] || t_fail "only $before speed samples before the raise"
[ "$over" -eq 0 ] || t_fail "$over of $before samples above 1 MiB/s before the manager raised it"
t_wait_until 10 v_mig_classes_are 0 || t_fail "classes not freed"
t_log "PASS"
