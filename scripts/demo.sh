#!/usr/bin/env bash
# `make demo`: live migrations of real VMs in the namespace lab, with a
# manager watching the source host, four times:
#   1. without the agent: three guests migrate at once at libvirt's default
#      speed (no limit) through hv1's 1 Gbit/s uplink;
#   2. with the agent at its defaults (policy srpt): each migration gets its
#      own HTB class and a libvirt speed just under it;
#   3. the same with policy fair (set through migshaperctl, as an operator
#      would): equal shares, so all finish late instead of one after another;
#   4. the agent killed with kill -9 while the guests migrate, and started
#      again: the pinned classifier and HTB tree keep shaping while it is
#      dead, and the new agent adopts them in place.
# The manager (tests/tools/mgremu, oVirt-like: a 40 kB stats call every
# second, every 5th on a fresh connection, 2 s call timeout, non-responsive
# after 2 failed calls spanning 10 s) and a 10/s heartbeat watch hv1 all
# along. The demo prints what each saw, how the migrations went, and draws
#   tests/bench/out/demo-throughput.png  wire and per-class throughput
#   tests/bench/out/demo-rtt.png         every heartbeat's RTT
#   tests/bench/out/demo-manager.png     the manager's calls
# (copied to docs/images/ for the README); the raw series stay in
# tests/bench/out/demo/. DEMO_GUEST_MIB (default 512) sets the guests' RAM.
# About three and a half minutes on this 2-core machine.
. "$(dirname "$0")/../tests/lab/virtlib.sh"

GUEST_MIB=${DEMO_GUEST_MIB:-512}
MIG_TIMEOUT_S=${DEMO_MIG_TIMEOUT_S:-150}
CTL=$T_ROOT/$BUILD/migshaperctl
DATA=$T_ROOT/tests/bench/out/demo
PNG_DIR=$T_ROOT/tests/bench/out
DOC_DIR=$T_ROOT/docs/images
# shellcheck disable=SC2034 # used by the t_* helpers
T_NAME=demo
V_DATA=$DATA

rm -rf "$DATA"
mkdir -p "$DATA"
v_setup
echo
echo "migshaper demo: hv1's uplink is a ${LAB_WIRE_MBIT} Mbit/s wire with a ${LAB_WIRE_QUEUE_PKTS}-packet FIFO."
echo "Three guests of $GUEST_MIB MiB (every page touched, 5 MiB/s dirtied) migrate hv1 -> hv2 at once."
echo "The manager calls hv1 every second (40 kB replies, 2 s timeout); a heartbeat polls it 10 times a second."
echo
v_mgremu_host
t_hb_server
names=(ms-d0 ms-d1 ms-d2)
t_log "starting the guests"
for g in "${names[@]}"; do V_MEM_MIB=$GUEST_MIB v_guest "$g" 5; done

conf=$T_TMP/agent.conf
# The agent's defaults but for the link's rate: a veth reports no physical
# speed, and the lab's wire is 1 Gbit/s.
printf '[global]\nlink_mbps = %s\nlibvirt_uri = %s\n' $((LAB_WIRE_MBIT * 95 / 100)) "$V_HV1_URI" >"$conf"
ctl() { timeout 20 "$CTL" --root "$T_TMP/run" --iface "$LAB_HV1_IF" "$@"; }

t_log "1/4 migrations without the agent"
v_migrations_run without "$MIG_TIMEOUT_S" "${names[@]}"
v_migrate_home "${names[@]}"

t_log "2/4 migrations with the agent (defaults: policy srpt)"
t_agent_start "$conf" "$T_TMP/agent.log" || t_fail "agent did not get ready: $(tail -n 5 "$T_TMP/agent.log")"
t_wait_log "$T_TMP/agent.log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
v_migrations_run srpt "$MIG_TIMEOUT_S" "${names[@]}"
v_migrate_home "${names[@]}"

t_log "3/4 the same with policy fair (migshaperctl set policy fair)"
ctl set policy fair >/dev/null || t_fail "migshaperctl set policy fair failed"
v_migrations_run fair "$MIG_TIMEOUT_S" "${names[@]}"
v_migrate_home "${names[@]}"
ctl set policy srpt >/dev/null || t_fail "migshaperctl set policy srpt failed"

t_log "4/4 the agent is killed (kill -9) while the guests migrate, and started again"
classes_before=
(v_migrations_run kill9 "$MIG_TIMEOUT_S" "${names[@]}") &
run=$!
t_wait_until 15 v_mig_classes_are 3 || t_log "only $(v_mig_classes) migration classes before the kill"
classes_before=$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" | grep -c '^class htb 1:1[0-9a-f][0-9a-f] ')
kill -KILL "$T_AGENT_PID"
wait "$T_AGENT_PID" 2>/dev/null
T_AGENT_PID=
killed_at=$(t_now_ns)
sleep 3
classes_dead=$(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" | grep -c '^class htb 1:1[0-9a-f][0-9a-f] ')
adopted=no
t_agent_start "$conf" "$T_TMP/agent-restarted.log" &&
	grep -q "adopted the tree in place" "$T_TMP/agent-restarted.log" && adopted=yes
dead_s=$(awk -v a="$(t_now_ns)" -v b="$killed_at" 'BEGIN { printf "%.1f", (a - b) / 1e9 }')
wait "$run"
t_agent_stop "$T_AGENT_PID"

get() { jq -r "$2 // \"-\"" "$DATA/$1.json" 2>/dev/null || echo -; }
echo
echo "What the manager saw (calls every second), the heartbeat (10/s) and the migrations:"
printf '%-34s %6s %6s %9s %6s | %6s %9s | %5s %12s %s\n' phase calls failed p99_ms down \
	missed p99_ms done mean_s "order completed"
for p in without srpt fair kill9; do
	case $p in
	without) name="1. without the agent" ;;
	srpt) name="2. agent, defaults (srpt)" ;;
	fair) name="3. agent, policy fair" ;;
	kill9) name="4. agent killed, restarted" ;;
	esac
	[ -s "$DATA/$p.json" ] || { printf '%-34s (no result)\n' "$name"; continue; }
	printf '%-34s %6s %6s %9s %6s | %6s %9s | %5s %12s %s\n' "$name" "$(get $p .calls)" \
		"$(get $p .failed)" "$(get $p .p99_ms)" "$(get $p .declared_down)" "$(get $p .hb.missed)" \
		"$(get $p .hb.p99_ms)" "$(get $p .migrations_completed)/$(get $p .migrations_total)" \
		"$(get $p '(.completion_s | map(select(. != null)) | if length > 0 then (add / length * 10 | round / 10) else null end)')" \
		"$(get $p '(.order | join(" "))')"
done
echo "(down: how often the manager declared hv1 non-responsive; mean_s: mean migration time)"
echo
# What each migration's class carried between 2 and 5 s into the run: the
# policy shows here. libvirt's speed (next) is each migration's ceiling: with
# the work-conserving defaults a migration may borrow up to the link, so the
# speeds are alike and the classes pace QEMU.
echo "With the agent, what each migration's class carried 2-5 s into the run (Mbit/s):"
for p in srpt fair; do
	[ -s "$DATA/$p.samples" ] &&
		awk -v p="$p" -v n="${#names[@]}" '
			!t1 && $1 >= 2 { t1 = $1; for (i = 0; i < n; i++) b1[i] = $(7 + i) }
			t1 && $1 >= 5 { printf "  %-5s", p
				for (i = 0; i < n; i++) printf " mig:%d %4.0f", i, ($(7 + i) - b1[i]) * 8 / ($1 - t1) / 1e6
				printf "\n"; exit }' "$DATA/$p.samples"
done
echo "(srpt feeds the shortest expected migration first, fair splits the aggregate evenly)"
echo "libvirt's migration speed of each guest (MiB/s), sampled 3 s into the run:"
for p in srpt fair; do
	[ -s "$DATA/$p.speeds" ] &&
		awk -v p="$p" -v n="${names[*]}" '$1 >= 3 { split(n, g, " "); printf "  %-5s", p;
			for (i = 2; i <= NF; i++) printf " %s %s", g[i - 1], $i; printf "\n"; exit }' "$DATA/$p.speeds"
done
echo "(each migration's ceiling: at the defaults a migration may use the link that management and"
echo " other traffic leave, so libvirt's speeds are alike and the classes above pace QEMU)"
echo
echo "kill -9: $classes_before migration classes before, $classes_dead while the agent was dead"
echo "(${dead_s} s, pinned classifier and HTB tree still shaping); the restarted agent adopted them in place: $adopted."
echo
if bash "$T_ROOT/scripts/plot.sh" "$DATA" "$PNG_DIR"; then
	mkdir -p "$DOC_DIR"
	cp "$PNG_DIR/demo-throughput.png" "$PNG_DIR/demo-rtt.png" "$PNG_DIR/demo-manager.png" "$DOC_DIR/"
	echo "Plots: $PNG_DIR/demo-{throughput,rtt,manager}.png (copied to docs/images/); data: $DATA/"
else
	echo "No plots (see above); data: $DATA/"
fi
