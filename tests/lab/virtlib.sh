# shellcheck shell=bash
# Helpers for the libvirt lab tests: the namespace lab of lib.sh plus a real
# libvirtd on hv1 and on hv2 (scripts/virtlab-lib.sh), and the test guest.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VIRTLAB_DIR=${VIRTLAB_DIR:-/tmp/$LAB_PREFIX-virtlab}
# shellcheck source=scripts/virtlab-lib.sh
. "$T_ROOT/scripts/virtlab-lib.sh"

V_HOSTS=$(printf '%s hv1\n%s hv2' "$LAB_HV1_IP" "$LAB_HV2_IP")
V_HV1_URI=$(virtlab_uri hv1)
V_GUEST_MIB=256

# The libvirt daemons and their guests, taken down by t_cleanup after the agent.
_v_teardown() {
	virtlab_host_down "$LAB_NS_HV1" hv1
	virtlab_host_down "$LAB_NS_HV2" hv2
}

# v_setup: the lab, both libvirt daemons and the built tools; 77 when the
# machine cannot run QEMU/KVM or libvirt.
v_setup() {
	local c
	for c in libvirtd virsh qemu-system-x86_64 nasm; do
		command -v "$c" >/dev/null || t_skip "$c is not installed (make deps)"
	done
	[ -c /dev/kvm ] || t_skip "/dev/kvm is missing"
	t_setup need_agent
	T_TEARDOWN=_v_teardown
	virtlab_host_up "$LAB_NS_HV1" hv1 "$LAB_HV1_IP" "$V_HOSTS" || t_fail "libvirtd on hv1 did not start"
	virtlab_host_up "$LAB_NS_HV2" hv2 "$LAB_HV2_IP" "$V_HOSTS" || t_fail "libvirtd on hv2 did not start"
}

# v_config FILE [key=value...]: t_config plus the hv1 libvirt URI. Every
# key=value is also appended, so keys t_config does not know get through
# (the agent's parser keeps the last value of a key).
v_config() {
	local file=$1 kv
	shift
	t_config "$file" "$@"
	echo "libvirt_uri = $V_HV1_URI" >>"$file"
	for kv in "$@"; do
		echo "${kv%%=*} = ${kv#*=}" >>"$file"
	done
}

# v_guests_up DIRTY_MIBS HOST:NAME... [-- mkimage options]: v_guest NAME
# DIRTY_MIBS on each HOST, all at once (QEMU's firmware takes ~4 s of CPU per
# guest, the lab has two cores). Each assembles its image under a BUILD of
# its own: mkimage.sh writes $BUILD/guest/dirty.bin, which builds at the same
# time would share. V_MEM_MIB applies to each.
v_guests_up() {
	local rate=$1 hg p names=() pids=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		names+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	for hg in "${names[@]}"; do
		(BUILD=$T_TMP/build-${hg#*:} V_GUEST_HOST=${hg%%:*} v_guest "${hg#*:}" "$rate" "$@") &
		pids+=("$!")
		T_BG_PIDS+=("$!")
	done
	for p in "${pids[@]}"; do
		wait "$p" || t_fail "a guest did not come up (see above)"
	done
}

# v_guest NAME DIRTY_MIBS [mkimage options]: defines and starts a guest on
# hv1, waits for its warm-up to finish (the guest prints a line "R").
# V_MEM_MIB (default V_GUEST_MIB) sets its RAM; the dirtied range then ends
# at its last MiB unless the options say otherwise. V_GUEST_HOST (default
# hv1) puts it on another lab host.
v_guest() {
	local name=$1 rate=$2 mem=${V_MEM_MIB:-$V_GUEST_MIB}
	shift 2
	[ "$mem" = "$V_GUEST_MIB" ] || set -- --end-mib $((mem - 1)) "$@"
	local img="$T_TMP/guest-$rate$(printf '%s' "$*" | tr -c 'a-z0-9' '_').img"
	[ -f "$img" ] || BUILD=$BUILD bash "$T_ROOT/tests/guest/mkimage.sh" "$img" --dirty-mibs "$rate" \
		"$@" 2>/dev/null || t_fail "cannot build the guest image"
	bash "$T_ROOT/tests/guest/mkdomain.sh" "$name" "$img" "$T_TMP/$name.serial" |
		sed "s|<memory unit='MiB'>$V_GUEST_MIB</memory>|<memory unit='MiB'>$mem</memory>|;
		     s|<currentMemory unit='MiB'>$V_GUEST_MIB</currentMemory>|<currentMemory unit='MiB'>$mem</currentMemory>|" \
			>"$T_TMP/$name.xml"
	grep -q "<memory unit='MiB'>$mem<" "$T_TMP/$name.xml" || t_fail "domain template changed: cannot set the RAM"
	virtlab_virsh "${V_GUEST_HOST:-hv1}" define "$T_TMP/$name.xml" >/dev/null || t_fail "define $name"
	virtlab_virsh "${V_GUEST_HOST:-hv1}" start "$name" >/dev/null || t_fail "start $name"
	t_wait_until 60 grep -qx R "$T_TMP/$name.serial" ||
		t_fail "$name did not finish its warm-up: domain $(virtlab_virsh "${V_GUEST_HOST:-hv1}" domstate --reason "$name"), serial: $(od -An -c "$T_TMP/$name.serial" | head -c 200)"
}

# v_migrate_bg NAME [virsh migrate options]: live p2p migration hv1 -> hv2 in
# the background; pid in T_LAST_PID, output in $T_TMP/migrate-NAME.log.
# virsh is stopped after V_MIG_LIMIT_S (default 60) s, exit 124 (the
# migration itself goes on).
v_migrate_bg() {
	local name=$1
	shift
	timeout "${V_MIG_LIMIT_S:-60}" virsh -q -c "$V_HV1_URI" migrate --live --p2p "$@" "$name" \
		"qemu+tcp://$LAB_HV2_IP/system" >"$T_TMP/migrate-$name.log" 2>&1 &
	T_LAST_PID=$!
	T_BG_PIDS+=("$T_LAST_PID")
}

# v_migrate_back NAME: hv2 -> hv1, so the next run starts from the same place.
v_migrate_back() {
	virtlab_virsh hv2 migrate --live --p2p "$1" "qemu+tcp://$LAB_HV1_IP/system" >/dev/null
}

# (iproute2 6.1 prints no JSON for HTB classes: these parse its text.)
# v_class_bytes MINOR_HEX: bytes the HTB class 1:MINOR sent (empty if absent).
v_class_bytes() {
	ip netns exec "$LAB_NS_HV1" tc -s class show dev "$LAB_HV1_IF" classid "1:$1" 2>/dev/null |
		awk '/Sent/ { print $2; exit }'
}

# v_class_rate MINOR_HEX: the class's configured rate as tc prints it, e.g. 400Mbit.
v_class_rate() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" classid "1:$1" 2>/dev/null |
		grep -o ' rate [^ ]*' | head -n 1 | cut -d' ' -f3
}

# v_mig_classes: how many per-migration classes (1:100-1:1ff) exist.
v_mig_classes() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" 2>/dev/null |
		grep -c '^class htb 1:1[0-9a-f][0-9a-f] '
}

# v_mig_classes_are N: true when exactly N per-migration classes exist (for t_wait_until).
v_mig_classes_are() { [ "$(v_mig_classes)" -eq "$1" ]; }

# v_log_count_ge FILE PATTERN N: true once PATTERN occurs at least N times in FILE.
v_log_count_ge() { [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ]; }

# v_flows: entries in hv1's agent's flow map.
v_flows() { bpftool -j map dump pinned "/sys/fs/bpf/migshaper/$LAB_HV1_IF/ms_flows" 2>/dev/null | jq length; }

# v_scrape_for SECONDS FILE: a /metrics request to hv1's agent every 0.2 s
# for SECONDS, each appended to FILE as "HTTP_CODE SECONDS" (000: no answer
# within 10 s).
v_scrape_for() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		ip netns exec "$LAB_NS_HV1" curl -s -o /dev/null --max-time 10 \
			-w '%{http_code} %{time_total}\n' http://127.0.0.1:9465/metrics >>"$2"
		sleep 0.2
	done
}

# v_agrees_with_libvirt NAME LOG: whatever libvirt did with NAME's outgoing
# migration (hv1 -> hv2), the agent (log LOG) must end up agreeing with it:
# waits up to 90 s for the agent to see the end, then fails unless the guest
# runs on hv2 after "completed", or is still on hv1 after "failed" or
# "cancelled"; the migration was found once (its class never re-created),
# and its class and flow entries are gone.
v_agrees_with_libvirt() {
	local name=$1 log=$2 outcome on_hv1 on_hv2
	t_wait_until 90 grep -q "$name: outgoing migration \(completed\|failed\|cancelled\)" "$log" ||
		t_fail "the agent never saw the migration end"
	outcome=$(grep -o "$name: outgoing migration [a-z]*" "$log" | tail -n 1 | awk '{print $4}')
	on_hv1=$(virtlab_virsh hv1 domstate "$name" 2>&1)
	on_hv2=$(virtlab_virsh hv2 domstate "$name" 2>&1)
	t_log "migration $outcome; libvirt says: hv1 '$on_hv1', hv2 '$on_hv2'"
	if [ "$outcome" = completed ]; then
		[ "$on_hv2" = running ] || t_fail "completed, says the agent, but the guest does not run on hv2"
	else
		case "$on_hv1" in
		running | paused) ;;
		*) t_fail "$outcome, says the agent, but the guest is not on hv1" ;;
		esac
	fi
	local found
	found=$(grep -c "$name: outgoing migration found" "$log")
	[ "$found" -eq 1 ] || t_fail "the migration was found $found times: its class was re-created"
	t_wait_until 10 v_mig_classes_are 0 || t_fail "class not freed after the end"
	[ "$(v_flows)" -eq 0 ] || t_fail "flow entries left after the end"
}

# --- several migrations under a manager's eye (tests/bench/outage.sh, demo) --
# The manager emulator's host side listens on hv1's ssh port, a management
# port at the agent's defaults (the heartbeat has vdsm's 54321).
V_MGR_PORT=22

# v_mgremu_host: tests/tools/mgremu's host on hv1.
v_mgremu_host() {
	local mg=$T_ROOT/$BUILD/tools/mgremu
	[ -x "$mg" ] || t_fail "$mg is not built (make $BUILD/tools/mgremu)"
	t_bg "$LAB_NS_HV1" "$T_TMP/mgremu-host.out" "$mg" host --listen "$LAB_HV1_IP" --port "$V_MGR_PORT"
	t_wait_listen "$LAB_NS_HV1" "$V_MGR_PORT" || t_fail "mgremu host not listening"
}

_v_lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
_v_all_gone() {
	local p
	for p in "$@"; do _t_gone "$p" || return 1; done
}

# v_sample_loop T0_NS INTERVAL_S: every INTERVAL_S prints "t_s wire_bytes
# c1:10 c1:20 c1:21 c1:30 c1:100 c1:101 c1:102 c1:103" (t_s since T0_NS,
# bytes; a class that does not exist reads 0) until killed or the lab is gone.
v_sample_loop() {
	local t0=$1 every=$2 a wire cls
	while [ -e "/run/netns/$LAB_NS_WIRE" ]; do
		a=$(t_now_ns)
		wire=$(ip netns exec "$LAB_NS_WIRE" tc -s qdisc show dev "$LAB_WIRE_OUT" |
			awk '$1 == "Sent" { print $2; exit }')
		cls=$(ip netns exec "$LAB_NS_HV1" tc -s class show dev "$LAB_HV1_IF" 2>/dev/null |
			awk '$1 == "class" { cur = $3 } $1 == "Sent" { b[cur] = $2 }
				END { printf "%d %d %d %d %d %d %d %d", b["1:10"], b["1:20"], b["1:21"],
					b["1:30"], b["1:100"], b["1:101"], b["1:102"], b["1:103"] }')
		echo "$(($(t_now_ns) / 2 + a / 2 - t0)) ${wire:-0} $cls" |
			awk '{ $1 = sprintf("%.3f", $1 / 1e9); print }'
		sleep "$every"
	done
}

# v_speed_loop T0_NS GUEST...: every second "t_s speed_MiBs..." (libvirt's
# migration speed of each guest on hv1; - once it has left).
v_speed_loop() {
	local t0=$1 g line
	shift
	while [ -e "/run/netns/$LAB_NS_WIRE" ]; do
		line=$(awk -v t="$(t_now_ns)" -v t0="$t0" 'BEGIN { printf "%.3f", (t - t0) / 1e9 }')
		for g in "$@"; do
			line+=" $(virtlab_virsh hv1 migrate-getspeed "$g" 2>/dev/null || echo -)"
		done
		echo "$line"
		sleep 1
	done
}

# v_migrations_run LABEL TIMEOUT_S GUEST...: migrates every GUEST from hv1 to
# hv2 at once, at libvirt's default speed, while the manager emulator calls
# hv1 every second and the heartbeat polls it 10 times a second; hv1's
# counters and the guests' libvirt speeds are sampled throughout. A migration
# still running after TIMEOUT_S is aborted. Writes to $V_DATA (default
# $T_TMP): LABEL.json
#   {"calls", "failed", "p99_ms", "declared_down",	(the manager's view)
#    "migrations_completed", "migrations_total",
#    "hb": heartbeat JSON, "completion_s": [per guest, null if it failed],
#    "order": [guests in the order they completed]}
# and the series LABEL.samples, LABEL.speeds, LABEL.mgr (mgremu --trace),
# LABEL.rtt ("t_s rtt_ms hit|miss"), all on one time axis from the start.
# V_DOWN_MIN_S (default 10) and V_HB=0 (no heartbeat) tune it.
v_migrations_run() {
	local label=$1 timeout_s=$2 mg=$T_ROOT/$BUILD/tools/mgremu data=${V_DATA:-$T_TMP}
	shift 2
	local g i t0 mgr spl spd hb_pid=0 pids=() n start_ns=() done_s=() order=() guests=("$@")
	t0=$(t_now_ns)
	ip netns exec "$LAB_NS_MGR" "$mg" manager --connect "$LAB_HV1_IP" --port "$V_MGR_PORT" \
		--duration-s $((timeout_s + 30)) --interval-ms 1000 --down-min-s "${V_DOWN_MIN_S:-10}" \
		--json --trace "$data/$label.mgr" >"$T_TMP/mgr-$label.json" 2>"$T_TMP/mgr-$label.err" &
	mgr=$!
	v_sample_loop "$t0" 0.5 >"$data/$label.samples" 2>/dev/null &
	spl=$!
	v_speed_loop "$t0" "$@" >"$data/$label.speeds" 2>/dev/null &
	spd=$!
	T_BG_PIDS+=("$mgr" "$spl" "$spd")
	t_wait_until 5 _v_lines_ge "$data/$label.mgr" 2 || t_fail "$label: the manager made no calls"
	if [ "${V_HB:-1}" = 1 ]; then
		ip netns exec "$LAB_NS_MGR" timeout $((timeout_s + 30)) "$HB" client --connect "$LAB_HV1_IP" \
			--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$timeout_s" --json \
			--trace "$T_TMP/hb-$label.trace" >"$T_TMP/hb-$label.json" &
		hb_pid=$!
		T_BG_PIDS+=("$hb_pid")
	fi
	local hb_off
	hb_off=$(awk -v t="$(t_now_ns)" -v t0="$t0" 'BEGIN { printf "%.3f", (t - t0) / 1e9 }')
	for g in "$@"; do
		start_ns+=("$(t_now_ns)")
		V_MIG_LIMIT_S=$((timeout_s + 10)) v_migrate_bg "$g"
		pids+=("$T_LAST_PID")
	done
	# Completion times as they happen (bounded by the timeout).
	local deadline=$(($(t_now_ns) + timeout_s * 1000000000)) left=$#
	while [ "$left" -gt 0 ] && [ "$(t_now_ns)" -lt "$deadline" ]; do
		left=0
		for i in "${!pids[@]}"; do
			[ -n "${done_s[$i]:-}" ] && continue
			if _t_gone "${pids[$i]}"; then
				if wait "${pids[$i]}"; then
					done_s[i]=$(awk -v t="$(t_now_ns)" -v s="${start_ns[$i]}" 'BEGIN { printf "%.1f", (t - s) / 1e9 }')
					order+=("${guests[$i]}")
				else
					done_s[i]=null
				fi
			else
				left=$((left + 1))
			fi
		done
		sleep 0.2
	done
	if [ "$left" -gt 0 ]; then
		for g in "$@"; do virtlab_virsh hv1 domjobabort "$g" >/dev/null 2>&1; done
		for i in "${!pids[@]}"; do
			[ -n "${done_s[$i]:-}" ] || { wait "${pids[$i]}"; done_s[i]=null; }
		done
	fi
	# Two more calls after the last migration ended, then the manager's report.
	n=$(wc -l <"$data/$label.mgr")
	t_wait_until 5 _v_lines_ge "$data/$label.mgr" $((n + 2)) || true
	[ "$hb_pid" != 0 ] && kill -INT "$hb_pid" 2>/dev/null
	kill -TERM "$mgr" "$spl" "$spd" 2>/dev/null
	wait "$mgr" "$spl" "$spd" 2>/dev/null
	[ "$hb_pid" != 0 ] && wait "$hb_pid" 2>/dev/null
	[ -s "$T_TMP/mgr-$label.json" ] || t_fail "$label: the manager gave no result: $(cat "$T_TMP/mgr-$label.err")"
	local hb='{}'
	if [ "$hb_pid" != 0 ]; then
		[ -s "$T_TMP/hb-$label.json" ] && hb=$(cat "$T_TMP/hb-$label.json")
		awk -v off="$hb_off" '!/^#/ { printf "%.3f %s %s\n", $2 + off, $3, $4 }' \
			"$T_TMP/hb-$label.trace" >"$data/$label.rtt" 2>/dev/null
	fi
	local completed=0
	for i in "${!done_s[@]}"; do [ "${done_s[$i]}" != null ] && completed=$((completed + 1)); done
	if [ "$completed" -lt $# ]; then
		for g in "$@"; do t_log "$label: $g: $(tr '\n' ' ' <"$T_TMP/migrate-$g.log")"; done
	fi
	jq -c --argjson done "$completed" --argjson total $# --argjson hb "$hb" \
		--argjson cs "[$(IFS=,; echo "${done_s[*]}")]" \
		--argjson order "$(printf '%s\n' "${order[@]}" | jq -R . | jq -sc 'map(select(. != ""))')" \
		'{calls, failed, p99_ms, declared_down, migrations_completed: $done, migrations_total: $total,
		  hb: $hb, completion_s: $cs, order: $order}' \
		<"$T_TMP/mgr-$label.json" >"$data/$label.json" || t_fail "$label: bad manager result"
}

# v_migrate_home GUEST...: every guest back on hv1 and running (the way back
# is not shaped).
v_migrate_home() {
	local g
	for g in "$@"; do
		if [ "$(virtlab_virsh hv2 domstate "$g" 2>/dev/null)" = running ]; then
			v_migrate_back "$g" || t_fail "$g: migration back to hv1 failed"
		elif [ "$(virtlab_virsh hv1 domstate "$g" 2>/dev/null)" = paused ]; then
			virtlab_virsh hv1 resume "$g" >/dev/null || t_fail "$g: cannot resume it on hv1"
		fi
	done
}

# --- Three libvirt hosts: hv1 and hv3 migrate to hv2 (issue 14) -------------
# The network is lib.sh's t3_up (hv3 with its own wire, the destination's
# downlink the bottleneck); each host runs its own libvirtd.
V3_HOSTS=$(printf '%s hv1\n%s hv2\n%s hv3' "$LAB_HV1_IP" "$LAB_HV2_IP" "$LAB_HV3_IP")

_v3_teardown() {
	virtlab_host_down "$LAB_NS_HV1" hv1
	virtlab_host_down "$LAB_NS_HV2" hv2
	virtlab_host_down "$LAB_NS_HV3" hv3
	t3_pins_remove
}

# v3_setup: the lab with hv3, three libvirt daemons; 77 as v_setup.
v3_setup() {
	local c
	for c in libvirtd virsh qemu-system-x86_64 nasm; do
		command -v "$c" >/dev/null || t_skip "$c is not installed (make deps)"
	done
	[ -c /dev/kvm ] || t_skip "/dev/kvm is missing"
	t_setup need_agent
	T_TEARDOWN=_v3_teardown
	t3_up || t_fail "three-host lab up failed"
	virtlab_host_up "$LAB_NS_HV1" hv1 "$LAB_HV1_IP" "$V3_HOSTS" || t_fail "libvirtd on hv1 did not start"
	virtlab_host_up "$LAB_NS_HV2" hv2 "$LAB_HV2_IP" "$V3_HOSTS" || t_fail "libvirtd on hv2 did not start"
	virtlab_host_up "$LAB_NS_HV3" hv3 "$LAB_HV3_IP" "$V3_HOSTS" || t_fail "libvirtd on hv3 did not start"
}

# v3_ns HOST / v3_if HOST / v3_ip HOST: the namespace, uplink and address of hv1|hv2|hv3.
v3_ns() { case $1 in hv1) echo "$LAB_NS_HV1" ;; hv2) echo "$LAB_NS_HV2" ;; hv3) echo "$LAB_NS_HV3" ;; esac; }
v3_if() { case $1 in hv1) echo "$LAB_HV1_IF" ;; hv2) echo "$LAB_HV2_IF" ;; hv3) echo "$LAB_HV3_IF" ;; esac; }
v3_ip() { case $1 in hv1) echo "$LAB_HV1_IP" ;; hv2) echo "$LAB_HV2_IP" ;; hv3) echo "$LAB_HV3_IP" ;; esac; }

# v3_config HOST FILE [key=value...]: v_config for the agent on HOST (its
# own libvirt URI).
v3_config() {
	local host=$1 file=$2 kv
	shift 2
	t_config "$file" "$@"
	echo "libvirt_uri = $(virtlab_uri "$host")" >>"$file"
	for kv in "$@"; do
		echo "${kv%%=*} = ${kv#*=}" >>"$file"
	done
}

# v3_agent_start HOST CONFIG LOG: an agent on HOST's uplink; pid in T_LAST_PID.
v3_agent_start() {
	t3_agent_start "$(v3_ns "$1")" "$(v3_if "$1")" "$2" "$3"
}

# v3_migrations_run LABEL TIMEOUT_S HOST:GUEST...: every GUEST migrates from
# its HOST (hv1 or hv3) to hv2 at once, at libvirt's default speed, while
# the manager's heartbeat polls hv2 10 times a second (a server must listen
# there: t3_hb_server). A migration still running after TIMEOUT_S is
# aborted. Writes $V_DATA (default $T_TMP)/LABEL.json:
#   {"hb": heartbeat JSON, "migrations_completed", "migrations_total",
#    "completion_s": [per guest, null if it failed]}
# and LABEL.queue (t3_queue_loop, every 0.2 s).
v3_migrations_run() {
	local label=$1 timeout_s=$2 data=${V_DATA:-$T_TMP}
	shift 2
	local hg host g i hb_pid ql pids=() start_ns=() done_s=()
	ip netns exec "$LAB_NS_MGR" timeout $((timeout_s + 30)) "$HB" client --connect "$LAB_HV2_IP" \
		--port "$T_MGMT_PORT" --rate 10 --timeout-ms 1000 --duration-s "$timeout_s" --json \
		--trace "$data/$label.rtt" >"$T_TMP/hb-$label.json" &
	hb_pid=$!
	t3_queue_loop 0.2 >"$data/$label.queue" 2>/dev/null &
	ql=$!
	T_BG_PIDS+=("$hb_pid" "$ql")
	for hg in "$@"; do
		host=${hg%%:*} g=${hg#*:}
		start_ns+=("$(t_now_ns)")
		timeout $((timeout_s + 10)) virsh -q -c "$(virtlab_uri "$host")" migrate --live --p2p "$g" \
			"qemu+tcp://$LAB_HV2_IP/system" >"$T_TMP/migrate-$g.log" 2>&1 &
		pids+=("$!")
		T_BG_PIDS+=("$!")
	done
	local deadline=$(($(t_now_ns) + timeout_s * 1000000000)) left=$#
	while [ "$left" -gt 0 ] && [ "$(t_now_ns)" -lt "$deadline" ]; do
		left=0
		for i in "${!pids[@]}"; do
			[ -n "${done_s[$i]:-}" ] && continue
			if _t_gone "${pids[$i]}"; then
				if wait "${pids[$i]}"; then
					done_s[i]=$(awk -v t="$(t_now_ns)" -v s="${start_ns[$i]}" 'BEGIN { printf "%.1f", (t - s) / 1e9 }')
				else
					done_s[i]=null
				fi
			else
				left=$((left + 1))
			fi
		done
		sleep 0.2
	done
	if [ "$left" -gt 0 ]; then
		for hg in "$@"; do virtlab_virsh "${hg%%:*}" domjobabort "${hg#*:}" >/dev/null 2>&1; done
		for i in "${!pids[@]}"; do
			[ -n "${done_s[$i]:-}" ] || { wait "${pids[$i]}"; done_s[i]=null; }
		done
	fi
	kill -INT "$hb_pid" 2>/dev/null
	kill -TERM "$ql" 2>/dev/null
	wait "$hb_pid" "$ql" 2>/dev/null
	local completed=0 hb='{}'
	for i in "${!done_s[@]}"; do [ "${done_s[$i]}" != null ] && completed=$((completed + 1)); done
	if [ "$completed" -lt $# ]; then
		for hg in "$@"; do t_log "$label: $hg: $(tr '\n' ' ' <"$T_TMP/migrate-${hg#*:}.log")"; done
	fi
	[ -s "$T_TMP/hb-$label.json" ] && hb=$(cat "$T_TMP/hb-$label.json")
	jq -nc --argjson hb "$hb" --argjson done "$completed" --argjson total $# \
		--argjson cs "[$(IFS=,; echo "${done_s[*]}")]" \
		'{hb: $hb, migrations_completed: $done, migrations_total: $total, completion_s: $cs}' \
		>"$data/$label.json" || t_fail "$label: bad result"
}

# v3_migrate_home HOST:GUEST...: every guest back on its source and running.
v3_migrate_home() {
	local hg host g
	for hg in "$@"; do
		host=${hg%%:*} g=${hg#*:}
		if [ "$(virtlab_virsh hv2 domstate "$g" 2>/dev/null)" = running ]; then
			virtlab_virsh hv2 migrate --live --p2p "$g" "qemu+tcp://$(v3_ip "$host")/system" \
				>/dev/null || t_fail "$g: migration back to $host failed"
		elif [ "$(virtlab_virsh "$host" domstate "$g" 2>/dev/null)" = paused ]; then
			virtlab_virsh "$host" resume "$g" >/dev/null || t_fail "$g: cannot resume it on $host"
		fi
	done
}

# v_tls_certs DIR: a lab CA and the certificates QEMU's native TLS migration
# reads from migrate_tls_x509_cert_dir (ca-cert.pem, server-cert.pem and
# -key.pem for the destination, client-cert.pem and -key.pem for the
# source), valid for both hosts' addresses and names.
v_tls_certs() {
	local dir=$1 role usage
	mkdir -p "$dir" || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=migshaper lab CA" \
		-keyout "$dir/ca-key.pem" -out "$dir/ca-cert.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
	for role in server client; do
		usage=serverAuth
		[ "$role" = client ] && usage=clientAuth
		openssl req -newkey rsa:2048 -nodes -subj "/CN=migshaper lab $role" \
			-keyout "$dir/$role-key.pem" -out "$dir/$role.csr" 2>/dev/null || return 1
		printf '%s\n' "basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=$usage" \
			"subjectAltName=IP:$LAB_HV1_IP,IP:$LAB_HV2_IP,DNS:hv1,DNS:hv2" >"$dir/$role.ext"
		openssl x509 -req -days 2 -in "$dir/$role.csr" -CA "$dir/ca-cert.pem" \
			-CAkey "$dir/ca-key.pem" -CAcreateserial -extfile "$dir/$role.ext" \
			-out "$dir/$role-cert.pem" 2>/dev/null || return 1
	done
}

# v_qemu_conf HOST KEY=VALUE...: sets KEYs in HOST's (hv1, hv2) qemu.conf
# and restarts its libvirtd; its domains run on, as in a daemon restart.
v_qemu_conf() {
	local host=$1 f=$VIRTLAB_DIR/$1/etc/qemu.conf ns=$LAB_NS_HV1 kv
	shift
	[ "$host" = hv2 ] && ns=$LAB_NS_HV2
	for kv in "$@"; do
		sed -i "/^${kv%%=*} *=/d" "$f"
		echo "${kv%%=*} = ${kv#*=}" >>"$f"
	done
	virtlab_daemon_stop "$host" && virtlab_daemon_start "$ns" "$host"
}
