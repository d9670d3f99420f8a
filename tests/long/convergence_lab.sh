#!/usr/bin/env bash
# One real-QEMU run for the convergence benchmark (tests/bench/convergence.sh
# merges its output as "lab"): three guests (dirtying 5, 20 and 5 MiB/s)
# migrate hv1 -> hv2 at once, sharing 300 Mbit/s, under srpt and then fair.
# Prints one JSON object: per policy, mean and max completion (s), failures,
# max downtime (ms). Not a test (no test_ prefix): a measurement.
. "$(dirname "$0")/../lab/virtlib.sh"
v_setup >&2

log="$T_TMP/agent.log"
guests=(ms-c1 ms-c2 ms-c3)
rates=(5 20 5)
for i in 0 1 2; do v_guest "${guests[$i]}" "${rates[$i]}" >&2; done

# run_policy NAME: prints the JSON summary of one run.
run_policy() {
	local conf="$T_TMP/agent-$1.conf" g pids=() t0 i
	v_config "$conf" migration_aggregate_mbps=300 migration_max_mbps=300 migration_min_mbps=20 \
		policy="$1"
	: >"$log"
	t_agent_start "$conf" "$log" >&2 || t_fail "agent did not get ready"
	t_wait_log "$log" "libvirt: connected" 15 >&2 || t_fail "no libvirt"
	t0=$(t_now_ns)
	for g in "${guests[@]}"; do
		(
			# Not virtlab_virsh: its 60 s limit would cut a slow migration short.
			if timeout 300 virsh -q -c "$V_HV1_URI" migrate --live --p2p "$g" \
				"qemu+tcp://$LAB_HV2_IP/system" >/dev/null 2>&1; then
				echo "$g $(( ($(t_now_ns) - t0) / 1000000 ))" >>"$T_TMP/done-$1"
			else
				echo "$g failed" >>"$T_TMP/done-$1"
			fi
		) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	sleep 1.5 # the agent logs job-completed stats right after
	t_agent_stop "$T_AGENT_PID" >&2
	for g in "${guests[@]}"; do v_migrate_back "$g" >&2 || t_fail "migrating $g back"; done
	awk -v agent_log="$log" '
		$2 == "failed" { failed++; next }
		{ n++; sum += $2 / 1000; if ($2 / 1000 > max) max = $2 / 1000 }
		END {
			while ((getline line < agent_log) > 0)
				if (match(line, /downtime [0-9]+ ms/)) {
					d = substr(line, RSTART + 9, RLENGTH - 12) + 0
					if (d > dmax) dmax = d
				}
			printf "{\"mean_completion_s\": %.1f, \"max_completion_s\": %.1f, \"failed\": %d, \"max_downtime_ms\": %d}",
				n ? sum / n : 0, max, failed, dmax
		}' "$T_TMP/done-$1"
}

srpt=$(run_policy srpt)
fair=$(run_policy fair)
printf '{"scenario": "3 guests of 256 MiB dirtying 5, 20 and 5 MiB/s, 300 Mbit/s aggregate on a 1 Gbit wire", "srpt": %s, "fair": %s}\n' "$srpt" "$fair"
