#!/usr/bin/env bash
# Under the serial policy the first migration gets the aggregate and finishes
# before the second gets more than the floor; then the second gets it.
. "$(dirname "$0")/virtlib.sh"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
v_config "$conf" migration_aggregate_mbps=300 migration_max_mbps=300 migration_min_mbps=20 \
	policy=serial
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
v_guest ms-first 5
v_guest ms-second 5

v_migrate_bg ms-first
first_pid=$T_LAST_PID
t_wait_log "$log" "ms-first: flow .* in class mig:0" 20 || t_fail "first not attributed"
v_migrate_bg ms-second
second_pid=$T_LAST_PID
t_wait_log "$log" "ms-second: flow .* in class mig:1" 20 || t_fail "second not attributed"

# While the first runs, the second stays at the floor (20 Mbit/s). "Runs"
# ends when the agent sees the job complete; virsh returns a little later,
# and by then the second has rightly been handed the aggregate.
first_running() { ! _t_gone "$first_pid" && ! grep -q "ms-first: outgoing migration completed" "$log"; }
max_second=0
samples=0
while first_running; do
	r=$(v_class_rate 101)
	case "$r" in
	*Mbit) v=${r%Mbit} ;;
	*Kbit) v=0 ;;
	*) v= ;;
	esac
	# The agent logs the completion before it hands over: a sample taken
	# after that line may already show the hand-over, and does not count.
	if [ -n "$v" ] && first_running; then
		samples=$((samples + 1))
		[ "${v%.*}" -gt "$max_second" ] && max_second=${v%.*}
	fi
	sleep 0.2
done
wait "$first_pid" || t_fail "first migration failed"
t_log "while the first ran: second's class at most ${max_second} Mbit/s over $samples samples"
[ "$max_second" -le 20 ] || t_fail "the second got ${max_second} Mbit/s before the first finished"
[ "$samples" -ge 3 ] || t_fail_timing "too few samples ($samples) to judge"
# Then the second gets the aggregate.
second_at_300() { [ "$(v_class_rate 101)" = 300Mbit ] || _t_gone "$second_pid"; }
t_wait_until 10 second_at_300 || t_fail "the second never got the aggregate: $(v_class_rate 101)"
wait "$second_pid" || t_fail "second migration failed"
t_log "order of completions: $(grep -o 'ms-[a-z]*: outgoing migration completed' "$log" | awk -F: '{print $1}' | tr '\n' ' ')"
[ "$(grep -o 'ms-[a-z]*: outgoing migration completed' "$log" | head -n 1)" = "ms-first: outgoing migration completed" ] ||
	t_fail "the second finished first"
t_log "PASS"
