#!/usr/bin/env bash
# Soak: tests/long/soak.sh DURATION_S (make soak: 600 s; make check: 60 s, as
# tests/lab/test_soak.sh)
#
# The agent on hv1 runs for DURATION_S seconds under everything at once:
#   - migrations starting and ending continuously: SOAK_GUESTS (default 3)
#     64 MiB guests, each in its own loop, live-migrated hv1 -> hv2 and back
#     (so the agent sees outgoing and incoming migrations, overlapping);
#   - a knob write every second through the FUSE tree, cycling through
#     migration_max_mbps 300, migration_aggregate_mbps 500,
#     migration_max_mbps 400, migration_aggregate_mbps 400 (every step
#     valid: max <= aggregate, reserve + aggregate <= link), each read back;
#   - a /metrics scrape every second (127.0.0.1:9465 in hv1's namespace);
#   - one restart of hv1's libvirtd in the middle, while all of the above
#     goes on (migrations that it interrupts fail and their loop retries);
#   - the manager's heartbeat (10/s, 1 s timeout) from mgr for the whole run.
#
# It proves:
#   - flat RSS: VmRSS of the agent is sampled every SOAK_SAMPLE_S (5) s. The
#     first SOAK_WARMUP_S (10) s are warm-up: by then every activity has run
#     several times (migrations in both directions, overlapping; knob writes
#     of both knobs; scrapes with migrations in them), so glibc's arenas, the
#     FUSE and HTTP threads' buffers, libvirt's client state and the
#     per-migration tables are at their working size. Afterwards, the last
#     three samples (the final one taken once every migration is over) must
#     not exceed the first post-warm-up sample by more than SOAK_RSS_SLACK_KIB
#     (2048). Why 2 MiB: the steady state is noisy only by what glibc's
#     malloc keeps between a free and the next trim (M_TRIM_THRESHOLD,
#     128 KiB, per arena; the agent has a handful of threads), the pages one
#     more concurrent migration touches (its job stats, flows, metrics text:
#     tens of KiB), and libvirt's reconnect after the daemon restart (a new
#     connection and event registrations: tens of KiB). All of that stays
#     well under 1 MiB; 2 MiB leaves room for one extra arena trim cycle. A
#     leak of 1 KiB per operation, the smallest that matters for a daemon
#     that runs for months, adds 60 s x (1 write + 1 scrape) + ~80
#     migration events ~ 200 KiB in a 60 s run: the short run only catches
#     leaks of >= ~10 KiB per operation; `make soak` (600 s) catches
#     ~1 KiB per operation. The slope over the post-warm-up samples is
#     printed too, for the trend.
#   - no fd growth: the count of /proc/<pid>/fd at the same points; the final
#     one (no migration, no scrape, no knob write in flight: the samples are
#     taken by the same loop that scrapes and writes, after both returned)
#     must not exceed the first post-warm-up one by more than
#     SOAK_FD_SLACK (2). Why 2: the libvirt client connection is closed and
#     re-opened across the daemon restart (same count once reconnected),
#     and the HTTP server may still hold the previous scrape's socket for
#     a moment after curl has closed its end; one more for a transient
#     netlink/sock_diag or /proc file of the scan that may be open when the
#     sample is read. A leak of one fd per migration, per write or per scrape
#     would add tens of fds even in the 60 s run.
#   - 0 heartbeat misses.
#   - every migration accounted for: the agent logged at least as many
#     outgoing migrations completed as virsh saw; one it knows only from
#     libvirt's job-completed event (it began and ended while the agent
#     could not list libvirt's jobs: libvirtd, busy with the others, did not
#     answer for 2 s, or answered each call late) counts, but only if such a
#     window was logged around it, or a knob write was answered a second or
#     more late during it.
# It prints a summary: migrations completed (per direction as virsh saw
# them, and the outgoing ones as the agent logged them), failed attempts, knob writes, scrapes,
# the RSS and fd series, the heartbeat's stats.
#
# SOAK_KEEP_LOG=FILE keeps a copy of the agent's log.
# Exit 0 pass, 1 fail, 77 if the libvirt lab cannot run here. Bounded: setup
# (~30 s) + DURATION_S + the tail (a migration in flight finishes; each
# virsh call is bounded by 60 s) + reconnect waits (<= 40 s) + waits for
# libvirt's last job to end (<= 60 s).
. "$(dirname "$0")/../lab/virtlib.sh"

DURATION_S=${1:-}
if ! [[ "$DURATION_S" =~ ^[0-9]+$ ]] || [ "$DURATION_S" -lt 30 ] || [ "$DURATION_S" -gt 86400 ]; then
	echo "usage: $0 DURATION_S (30..86400)" >&2
	exit 1
fi
T_NAME=soak
NGUESTS=${SOAK_GUESTS:-3}
WARMUP_S=${SOAK_WARMUP_S:-10}
SAMPLE_S=${SOAK_SAMPLE_S:-5}
RSS_SLACK_KIB=${SOAK_RSS_SLACK_KIB:-2048}
FD_SLACK=${SOAK_FD_SLACK:-2}
GUEST_MIB=64
RESTART_AT=$((DURATION_S / 2))

command -v curl >/dev/null 2>&1 || t_skip "curl is missing"
[ -c /dev/fuse ] || t_skip "no /dev/fuse"
v_setup

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
K="$T_TMP/run/$LAB_HV1_IF"
# 400 Mbit/s for all migrations: a 64 MiB guest alone needs ~1.5 s, three
# sharing it ~4 s, so each loop completes a round trip every few seconds.
v_config "$conf" migration_aggregate_mbps=400 migration_max_mbps=400 migration_min_mbps=20
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_log "$log" "libvirt: connected" 15 || t_fail "agent did not connect to libvirt"
t_wait_listen "$LAB_NS_HV1" 9465 || t_fail "the agent does not serve /metrics"
[ -f "$K/migration_max_mbps" ] || t_fail "no knob tree at $K"
apid=$T_AGENT_PID
[ "$(cat "/proc/$apid/comm" 2>/dev/null)" = migshaperd ] || t_fail "pid $apid is not the agent"
t_hb_server

# The guests: the project's guest with 64 MiB of RAM and its dirtied range
# inside it (as tests/bench/reaction.sh), 5 MiB/s. QEMU only reads the image,
# so one image serves all of them (v_guest builds it once).
GUESTS=()
for ((i = 0; i < NGUESTS; i++)); do
	GUESTS+=("soak-$i")
	# One boot at a time (v_guest waits for each): guests started together
	# here (nested KVM, 2 CPUs) were seen to never reach "R" within 60 s;
	# one by one each takes ~4 s.
	V_MEM_MIB=$GUEST_MIB v_guest "soak-$i" 5
done

# virsh10 HOST ARGS...: virsh on HOST's libvirtd, bounded by 10 s (the
# state checks poll; virtlab_virsh's 60 s is for migrations).
virsh10() { timeout 10 virsh -q -c "$(virtlab_uri "$1")" "${@:2}"; }

# dom_state HOST NAME: libvirt's state, "absent" if the host does not know
# the domain, "unreachable" if its libvirtd does not answer.
dom_state() {
	local out
	if out=$(virsh10 "$1" domstate "$2" 2>&1); then
		echo "$out" | head -n 1
	elif virsh10 "$1" version >/dev/null 2>&1; then
		echo absent
	else
		echo unreachable
	fi
}

# worker NAME END_NS: migrates NAME to the other host until END_NS, from
# wherever it runs. One line per attempt in $T_TMP/worker-NAME.out:
# "ok out|back SECONDS", "fail out|back <error>", "wait <hv1 state> <hv2 state>".
# Bounded: one attempt at a time, each virsh call by virtlab_virsh's 60 s,
# no attempt starts after END_NS, and at most 10 attempts per second.
worker() {
	local g=$1 end=$2 s1 s2 t0 t1 err n=0 max=$((DURATION_S * 10))
	local uri2="qemu+tcp://$LAB_HV2_IP/system" uri1="qemu+tcp://$LAB_HV1_IP/system"
	while [ "$(t_now_ns)" -lt "$end" ] && [ $n -lt $max ]; do
		n=$((n + 1))
		# No new migration while the agent cannot see libvirt (the restart,
		# until it reconnected): one that began and ended unseen could
		# not be counted. Those in flight go on.
		if [ -e "$T_TMP/paused" ]; then
			echo "wait paused"
			sleep 0.2
			continue
		fi
		s1=$(dom_state hv1 "$g")
		s2=$(dom_state hv2 "$g")
		t0=$(t_now_ns)
		if [ "$s1" = running ] && [ "$s2" = absent ]; then
			if err=$(virtlab_virsh hv1 migrate --live --p2p "$g" "$uri2" 2>&1); then
				t1=$(t_now_ns)
				echo "ok out $(((t1 - t0) / 1000000))"
			else
				echo "fail out $(echo "$err" | tr '\n' ' ')"
				sleep 0.5
			fi
		elif [ "$s2" = running ] && [ "$s1" != running ] && [ "$s1" != paused ] && [ "$s1" != unreachable ]; then
			if err=$(virtlab_virsh hv2 migrate --live --p2p "$g" "$uri1" 2>&1); then
				t1=$(t_now_ns)
				echo "ok back $(((t1 - t0) / 1000000))"
			else
				echo "fail back $(echo "$err" | tr '\n' ' ')"
				sleep 0.5
			fi
		elif [ "$s1" = paused ] && [ "$s2" = absent ]; then
			# A migration interrupted by the daemon restart can leave the
			# source paused; libvirt resumes it itself, or we do.
			echo "wait $s1 $s2"
			sleep 0.5
			[ "$(dom_state hv1 "$g")" = paused ] && virtlab_virsh hv1 resume "$g" >/dev/null 2>&1
		else
			echo "wait $s1 $s2"
			sleep 0.2
		fi
	done
}

# The activities run from T0 to END.
T0=$(t_now_ns)
END=$((T0 + DURATION_S * 1000000000))
ip netns exec "$LAB_NS_MGR" timeout $((DURATION_S + 30)) "$HB" client --connect "$LAB_HV1_IP" \
	--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s $((DURATION_S + 5)) --json \
	>"$T_TMP/hb.json" 2>"$T_TMP/hb.err" &
hb_pid=$!
T_BG_PIDS+=("$hb_pid")
wpids=()
for g in "${GUESTS[@]}"; do
	worker "$g" "$END" >"$T_TMP/worker-$g.out" 2>&1 &
	wpids+=("$!")
	T_BG_PIDS+=("$!")
done

# The 1 Hz loop: a knob write (read back), a scrape, every SAMPLE_S the RSS
# and fd count, and the daemon restart (in the background) at RESTART_AT.
KNOB_STEPS=("migration_max_mbps 300" "migration_aggregate_mbps 500"
	"migration_max_mbps 400" "migration_aggregate_mbps 400")
rss_of() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$apid/status" 2>/dev/null; }
fds_of() { find "/proc/$apid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
scrape() {
	nsenter --net="/run/netns/$LAB_NS_HV1" -- curl -sf --max-time 5 -o "$T_TMP/metrics.txt" \
		-w '%{size_download}' http://127.0.0.1:9465/metrics
}
writes=0 write_fail=0 scrapes=0 scrape_fail=0 scrape_bytes_max=0 scrape_mig_max=0
samples=() restart_pid=
for ((tick = 0; tick <= DURATION_S; tick++)); do
	_t_gone "$apid" && t_fail "the agent exited during the soak (tick $tick)"
	step=${KNOB_STEPS[$((tick % 4))]}
	knob=${step% *}
	val=${step#* }
	w0=$(t_now_ns)
	if timeout 10 bash -c 'echo "$1" >"$2"' _ "$val" "$K/$knob" 2>>"$T_TMP/knob.err" &&
		[ "$(timeout 10 cat "$K/$knob")" = "$val" ]; then
		writes=$((writes + 1))
		# The agent's loop serves the knobs: a write answered a second or
		# more late is a window in which it was busy (on libvirt) and saw
		# nothing: "start_s end_s", in the agent log's units.
		w1=$(t_now_ns)
		[ $((w1 - w0)) -ge 1000000000 ] &&
			awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f %.3f\n", a / 1e9, b / 1e9 }' >>"$T_TMP/busy.windows"
	else
		write_fail=$((write_fail + 1))
		echo "tick $tick: $knob=$val failed or reads back '$(timeout 10 cat "$K/$knob" 2>&1)'" >>"$T_TMP/knob.err"
	fi
	s0=$(t_now_ns)
	if bytes=$(scrape) && grep -q '^migshaper_' "$T_TMP/metrics.txt"; then
		scrapes=$((scrapes + 1))
		[ "$bytes" -gt "$scrape_bytes_max" ] && scrape_bytes_max=$bytes
		nm=$(grep -c '^migshaper_migration_' "$T_TMP/metrics.txt")
		[ "$nm" -gt "$scrape_mig_max" ] && scrape_mig_max=$nm
	else
		scrape_fail=$((scrape_fail + 1))
		# When and how it failed, in the agent log's units: set beside the
		# agent's lines about libvirt.
		awk -v a="$s0" -v b="$(t_now_ns)" -v t="$tick" -v n="$bytes" 'BEGIN {
			printf "tick %d: %.3f-%.3f, %s bytes\n", t, a / 1e9, b / 1e9, n }' >>"$T_TMP/scrape.err"
	fi
	if [ "$tick" -ge "$WARMUP_S" ] && [ $(((tick - WARMUP_S) % SAMPLE_S)) -eq 0 ]; then
		samples+=("$tick $(rss_of) $(fds_of) $(v_mig_classes)")
	fi
	if [ "$tick" -eq "$RESTART_AT" ]; then
		t_log "t=${tick}s: restarting hv1's libvirtd"
		touch "$T_TMP/paused"
		connects=$(grep -c 'libvirt: connected' "$log")
		(virtlab_daemon_stop hv1 && virtlab_daemon_start "$LAB_NS_HV1" hv1 &&
			t_wait_until 60 v_log_count_ge "$log" 'libvirt: connected' $((connects + 1))
		 rc=$?
		 rm -f "$T_TMP/paused"
		 exit $rc) >"$T_TMP/restart.out" 2>&1 &
		restart_pid=$!
		T_BG_PIDS+=("$restart_pid")
	fi
	[ "$tick" -eq "$DURATION_S" ] && break
	# Pace to T0 + (tick + 1) s.
	now=$(t_now_ns)
	next=$((T0 + (tick + 1) * 1000000000))
	[ "$now" -lt "$next" ] && sleep "$(awk -v d=$((next - now)) 'BEGIN { printf "%.3f", d / 1e9 }')"
done

# The tail: the restart done, the workers' last migrations over, every class
# freed, the agent reconnected.
[ -n "$restart_pid" ] || t_fail "the restart never ran"
t_wait_exit "$restart_pid" 80 || t_fail "the libvirtd restart did not finish"
wait "$restart_pid" || t_fail "libvirtd did not restart: $(cat "$T_TMP/restart.out")"
for p in "${wpids[@]}"; do
	t_wait_exit "$p" 130 || t_fail "a migration loop did not stop"
	wait "$p"
done
t_wait_until 40 v_log_count_ge "$log" 'libvirt: connected' 2 || t_fail "the agent did not reconnect to libvirt"
# A class lives as long as libvirt's job: one that hv1's libvirtd still
# lists (its recovery after the restart can keep one) rightly keeps it. Such a
# job is ended as an admin would, and then the class must go too.
hv1_jobs() {
	local g t
	for g in "${GUESTS[@]}"; do
		t=$(virsh10 hv1 domjobinfo "$g" 2>/dev/null |
			awk -F': *' '/^Job type/ { sub(/[ \t]+$/, "", $2); print $2 }')
		[ -n "$t" ] && [ "$t" != None ] && echo -n "$g ($t) "
	done
}
no_hv1_jobs() { [ -z "$(hv1_jobs)" ]; }
if ! t_wait_until 30 no_hv1_jobs; then
	jobs=$(hv1_jobs)
	t_log "hv1's libvirtd still lists a job after the loops ended: $jobs; aborting it"
	for g in "${GUESTS[@]}"; do
		[[ " $jobs" == *" $g ("* ]] && virsh10 hv1 domjobabort "$g"
	done
	t_wait_until 30 no_hv1_jobs || t_fail "hv1's libvirtd keeps a job after domjobabort: $(hv1_jobs)"
fi
if ! t_wait_until 20 v_mig_classes_are 0; then
	# CI shows a failure's last lines: which class, and what the agent
	# last said about it and about libvirt.
	for h in $(ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" |
		awk '/^class htb 1:1[0-9a-f][0-9a-f] / { print $3 }'); do
		name="mig:$((0x${h#1:} - 0x100))"
		t_log "left: class $h ($name); the agent's last lines about it:"
		grep -E "class $name( |$)" "$log" | tail -n 3 | sed "s/^/[$T_NAME]   /"
	done
	t_log "the agent's last lines about libvirt:"
	grep -E "libvirt: |migration (completed|failed|cancelled)" "$log" | tail -n 4 | sed "s/^/[$T_NAME]   /"
	t_fail "classes not freed after the last migration: $(v_mig_classes) left"
fi
_t_gone "$apid" && t_fail "the agent exited"
# The final sample: nothing in flight.
samples+=("end $(rss_of) $(fds_of) $(v_mig_classes)")
t_exit_status "$hb_pid" 40
[ "$T_STOP_RC" -eq 0 ] || t_fail "the heartbeat client failed ($T_STOP_RC): $(cat "$T_TMP/hb.err")"

# Summary.
ok_out=0 ok_back=0 fail_n=0 waits=0
for g in "${GUESTS[@]}"; do
	f="$T_TMP/worker-$g.out"
	ok_out=$((ok_out + $(grep -c '^ok out' "$f")))
	ok_back=$((ok_back + $(grep -c '^ok back' "$f")))
	fail_n=$((fail_n + $(grep -c '^fail' "$f")))
	waits=$((waits + $(grep -c '^wait' "$f")))
done
agent_out=$(grep -c ': outgoing migration completed' "$log")
agent_other=$(grep -c ': outgoing migration \(failed\|cancelled\)' "$log")
# Of those, the ones the agent knows only from libvirt's job-completed event:
# they began and ended while the agent could not list libvirt's jobs. Each
# must fall in such a window, or the agent missed a migration it could have
# seen: a "no answer" or a disconnection the agent logged, a knob write it
# answered a second or more late (its loop waited on libvirt calls that
# each stayed under the 2 s timeout), or a pause of its libvirt calls after
# a slow answer (the wait budget: "makes no calls for X s", so that the
# loop serves /metrics and the knobs), between its start and its event.
UNSEEN=' migration completed after .* without the agent seeing it run'
unseen=$(grep -c "outgoing$UNSEEN" "$log")
touch "$T_TMP/busy.windows"
unexplained=$(awk -v pat="outgoing$UNSEEN" '
	FILENAME != agent_log { busy0[++m] = $1; busy1[m] = $2; next }
	/libvirt: (listing the jobs: no answer|disconnected|connection to .* closed)/ { blind[++n] = $1 }
	/libvirt: .* answers slowly .*makes no calls for [0-9.]+ s/ {
		match($0, /no calls for [0-9.]+ s/)
		busy0[++m] = $1; busy1[m] = $1 + substr($0, RSTART + 13, RLENGTH - 15) }
	$0 ~ pat { match($0, /completed after [0-9.]+ s/); e = substr($0, RSTART + 16, RLENGTH - 18)
		t = $1; ok = 0
		for (i = 1; i <= n; i++) if (blind[i] >= t - e - 3 && blind[i] <= t) ok = 1
		for (i = 1; i <= m; i++) if (busy1[i] >= t - e && busy0[i] <= t) ok = 1
		if (!ok) print }' "$T_TMP/busy.windows" agent_log="$log" "$log")
[ -n "${SOAK_KEEP_LOG:-}" ] && cp "$log" "$SOAK_KEEP_LOG"
t_log "duration ${DURATION_S}s, $NGUESTS guests of $GUEST_MIB MiB, libvirtd restarted at t=${RESTART_AT}s"
t_log "migrations completed: $ok_out hv1->hv2, $ok_back hv2->hv1 (the agent logged $agent_out" \
	"outgoing completed, $unseen of them known only from libvirt's event, $agent_other" \
	"failed/cancelled); failed attempts: $fail_n; waits: $waits"
grep -h '^fail' "$T_TMP"/worker-*.out | cut -c1-200 | sort | uniq -c | sed "s/^/[$T_NAME]   /"
t_log "knob writes: $writes ok, $write_fail failed; scrapes: $scrapes ok, $scrape_fail failed" \
	"(largest $scrape_bytes_max bytes, up to $scrape_mig_max migration series)"
t_log "samples (t_s rss_kib fds mig_classes):"
for s in "${samples[@]}"; do t_log "  $s"; done
read -r _ rss0 fd0 _ <<<"${samples[0]}"
read -r _ rssN fdN _ <<<"${samples[-1]}"
n=${#samples[@]}
rss_last_max=0
for ((i = n > 3 ? n - 3 : 0; i < n; i++)); do
	read -r _ r _ _ <<<"${samples[$i]}"
	[ "$r" -gt "$rss_last_max" ] && rss_last_max=$r
done
# slope FROM_S: least-squares slope of RSS over the in-run samples taken at
# or after FROM_S, in KiB per minute (printed only: the trend for long runs).
slope() {
	printf '%s\n' "${samples[@]}" | awk -v from="$1" '$1 != "end" && $1 >= from {
			n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
		END { d = n * sxx - sx * sx
			if (n < 3 || d == 0) print "n/a"; else printf "%.1f", (n * sxy - sx * sy) / d * 60 }'
}
t_log "RSS: first post-warm-up $rss0 KiB, largest of the last 3 $rss_last_max KiB, final $rssN KiB" \
	"(bound +$RSS_SLACK_KIB KiB); slope $(slope 0) KiB/min overall," \
	"$(slope $((RESTART_AT + 10))) KiB/min from 10 s after the restart; fds: $fd0 -> $fdN (bound +$FD_SLACK)"
t_log "heartbeat: $(cat "$T_TMP/hb.json")"

rc=0
[ "$ok_out" -ge "$NGUESTS" ] || { t_log "FAIL: only $ok_out migrations hv1->hv2 completed"; rc=1; }
if [ "$agent_out" -lt "$ok_out" ]; then
	t_log "FAIL: the agent saw $agent_out outgoing migrations complete, virsh $ok_out; per guest:"
	for g in "${GUESTS[@]}"; do
		v=$(grep -c '^ok out' "$T_TMP/worker-$g.out")
		a=$(grep -c "$g: outgoing migration completed" "$log")
		t_log "  $g: virsh $v, agent $a; its attempts: $(grep -E '^(ok|fail)' "$T_TMP/worker-$g.out" | cut -c1-24 | tr '\n' ',')"
		[ "$a" -ge "$v" ] ||
			grep -E "$g: (outgoing migration|switchover)|libvirt: (conn|disc)" "$log" | tail -n 10 | sed "s/^/[$T_NAME]   /"
	done
	rc=1
fi
[ -z "$unexplained" ] || { t_log "FAIL: unseen while the agent could list libvirt's jobs: $unexplained"; rc=1; }
[ "$write_fail" -eq 0 ] || { t_log "FAIL: $write_fail knob writes failed: $(head -n 5 "$T_TMP/knob.err")"; rc=1; }
[ "$scrape_fail" -eq 0 ] || { t_log "FAIL: $scrape_fail scrapes failed: $(tr '\n' ';' <"$T_TMP/scrape.err")"; rc=1; }
[ "$rss_last_max" -le $((rss0 + RSS_SLACK_KIB)) ] || { t_log "FAIL: RSS grew by $((rss_last_max - rss0)) KiB"; rc=1; }
[ "$fdN" -le $((fd0 + FD_SLACK)) ] || { t_log "FAIL: fds grew from $fd0 to $fdN"; rc=1; }
missed=$(jq -r '.missed // empty' "$T_TMP/hb.json")
sent=$(jq -r '.sent // 0' "$T_TMP/hb.json")
[ "$missed" = 0 ] || { t_log "FAIL: heartbeat missed ${missed:-?} (no JSON?)"; rc=1; }
[ "$sent" -ge $((DURATION_S * 10)) ] || { t_log "FAIL: the heartbeat sent only $sent requests"; rc=1; }
[ $rc -eq 0 ] || t_fail "soak failed (see above)"
t_log "PASS"
