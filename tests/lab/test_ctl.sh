#!/usr/bin/env bash
# migshaperctl against the real agent in the lab:
#  - status --json parses with jq and has the documented fields;
#  - get prints a knob (and generated files), set changes it (tc follows);
#  - set with a bad value exits 1 and changes nothing (knob, tc classes);
#  - usage errors exit 2 (before looking for an agent); no agent exits 1;
#  - watch --count 2 prints twice and terminates;
#  - a user other than root is told "permission denied ... run as root" (the
#    path named) and the CLI exits 1; a list cut off ("22,") is refused;
#  - names and values from outside (a domain name, a knob's contents) are
#    printed with their control characters escaped (a fake tree under --root).
. "$(dirname "$0")/lib.sh"

CTL=${CTL:-$T_ROOT/$BUILD/migshaperctl}
[ -x "$CTL" ] || t_skip "$CTL is not built (make)"
[ -c /dev/fuse ] || t_skip "no /dev/fuse"
t_setup need_agent

conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
ROOT="$T_TMP/run"
K="$ROOT/$LAB_HV1_IF"
tc_classes() { ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF"; }
class_line() { ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" classid "$1"; }
# ctl ARGS...: runs the CLI, output in OUT, exit status in RC.
ctl() {
	RC=0
	OUT=$(timeout 20 "$CTL" "$@" 2>&1) || RC=$?
}
expect_rc() { # WANT DESCRIPTION
	[ "$RC" -eq "$1" ] || t_fail "$2: exit $RC, expected $1: $OUT"
}

# Usage errors need no agent: exit 2.
for args in "" "bogus" "--bogus status" "get" "get a b" "set migration_max_mbps" \
	"set a b c" "get ../etc/passwd" "get /abs" "set ./x 1" "get a//b" "status --bogus" \
	"status extra" "watch --count 0" "watch --count x" "watch --interval 0" \
	"watch --interval 3601" "watch --interval" "watch extra" "--iface a/b status"; do
	# shellcheck disable=SC2086
	ctl --root "$T_TMP/nowhere" $args
	expect_rc 2 "usage error '$args'"
	echo "$OUT" | grep -q "migshaperctl" || t_fail "usage error '$args' says nothing useful: $OUT"
done
ctl --help
expect_rc 0 "--help"
echo "$OUT" | grep -q "^Usage: migshaperctl" || t_fail "--help: $OUT"
ctl --version
expect_rc 0 "--version"
# No agent: exit 1, with a hint.
ctl --root "$T_TMP/nowhere" status
expect_rc 1 "status without an agent"
echo "$OUT" | grep -q "is migshaperd running" || t_fail "no hint without an agent: $OUT"
t_log "usage errors exit 2, no agent exits 1"

t_config "$conf" migration_aggregate_mbps=800 migration_max_mbps=800
echo "libvirt_uri = none" >>"$conf"
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_until 5 mountpoint -q "$K" || t_fail "the agent did not mount its knobs at $K"

# status --json
ctl --root "$ROOT" status --json
expect_rc 0 "status --json"
echo "$OUT" | jq -e . >/dev/null || t_fail "status --json is not JSON: $OUT"
echo "$OUT" | jq -e --arg ifname "$LAB_HV1_IF" '
	.iface == $ifname and
	(.settings | keys == ["incoming_aggregate_mbps", "link_mbps", "mgmt_reserve_mbps",
		"migration_aggregate_mbps", "migration_max_mbps", "migration_min_mbps"]) and
	.settings.link_mbps == 950 and .settings.mgmt_reserve_mbps == 100 and
	.settings.migration_aggregate_mbps == 800 and .settings.migration_max_mbps == 800 and
	.settings.migration_min_mbps == 50 and
	.migrations == [] and
	([.classes[].class] == ["mgmt", "aggregate", "unattributed", "default"]) and
	all(.classes[]; (keys == ["bytes", "class", "drops", "packets"]) and
		(.bytes | type) == "number" and (.packets | type) == "number" and
		(.drops | type) == "number")' >/dev/null ||
	t_fail "status --json lacks the expected fields: $OUT"
json=$OUT
ctl --root "$ROOT" --iface "$LAB_HV1_IF" status
expect_rc 0 "status (table)"
echo "$OUT" | grep -q "link 950 Mbit/s" && echo "$OUT" | grep -q "(no migrations)" &&
	echo "$OUT" | grep -q "^mgmt " || t_fail "status table: $OUT"
t_log "status --json: $json"

# get
ctl --root "$ROOT" get migration_max_mbps
expect_rc 0 "get migration_max_mbps"
[ "$OUT" = 800 ] || t_fail "get migration_max_mbps: '$OUT'"
ctl --root "$ROOT" get stats/mgmt/bytes
expect_rc 0 "get stats/mgmt/bytes"
[[ "$OUT" =~ ^[0-9]+$ ]] || t_fail "get stats/mgmt/bytes: '$OUT'"
ctl --root "$ROOT" get mgmt_cidrs
[ "$OUT" = "$LAB_MGR_IP/32
$LAB_MGR_IP6/128" ] || t_fail "get mgmt_cidrs: '$OUT'"
ctl --root "$ROOT" get no_such_knob
expect_rc 1 "get no_such_knob"
ctl --root "$ROOT" --iface nosuch0 get migration_max_mbps
expect_rc 1 "get with --iface of no agent"

# set: the knob and tc follow (the per-migration maximum first: it must stay
# within the aggregate).
ctl --root "$ROOT" set migration_max_mbps 500
expect_rc 0 "set migration_max_mbps 500"
class_line 1:21 | grep -q 'ceil 500Mbit' || t_fail "unattributed ceil not 500: $(class_line 1:21)"
ctl --root "$ROOT" set migration_aggregate_mbps 600
expect_rc 0 "set migration_aggregate_mbps 600"
class_line 1:20 | grep -q 'rate 600Mbit ceil 600Mbit' || t_fail "aggregate not at 600: $(class_line 1:20)"
ctl --root "$ROOT" get migration_aggregate_mbps
[ "$OUT" = 600 ] || t_fail "get after set: '$OUT'"
ctl --root "$ROOT" get migration_max_mbps
[ "$OUT" = 500 ] || t_fail "migration_max_mbps changed by itself: '$OUT'"
ctl --root "$ROOT" set mgmt_cidrs "10.0.0.0/8,192.168.10.0/24"
expect_rc 0 "set mgmt_cidrs (a list)"
ctl --root "$ROOT" get mgmt_cidrs
[ "$OUT" = "10.0.0.0/8
192.168.10.0/24" ] || t_fail "get mgmt_cidrs after set: '$OUT'"
t_log "get/set ok; tc followed (1:20 $(class_line 1:20 | grep -o 'rate [^ ]*'))"

# set with bad values: exit 1, nothing changes.
before_knobs=$(for f in link_mbps mgmt_reserve_mbps migration_aggregate_mbps migration_max_mbps \
	migration_min_mbps mgmt_ports migration_ports mgmt_cidrs; do cat "$K/$f"; done)
before_tc=$(tc_classes)
for kv in "migration_max_mbps=abc" "migration_max_mbps=-1" "migration_max_mbps=700" \
	"migration_aggregate_mbps=5000" "migration_ports=49215-49152" "mgmt_cidrs=10.0.0.0/33" \
	"mgmt_ports=22,http" "link_mbps=" "stats/mgmt/bytes=5" "no_such_knob=1"; do
	ctl --root "$ROOT" set "${kv%%=*}" "${kv#*=}"
	expect_rc 1 "set ${kv%%=*} '${kv#*=}'"
	[ -n "$OUT" ] || t_fail "set ${kv%%=*} '${kv#*=}' failed silently"
	now=$(for f in link_mbps mgmt_reserve_mbps migration_aggregate_mbps migration_max_mbps \
		migration_min_mbps mgmt_ports migration_ports mgmt_cidrs; do cat "$K/$f"; done)
	[ "$now" = "$before_knobs" ] || t_fail "refused set ${kv%%=*} '${kv#*=}' changed the knobs"
	[ "$(tc_classes)" = "$before_tc" ] || t_fail "refused set ${kv%%=*} '${kv#*=}' changed tc"
done
ctl --root "$ROOT" set migration_max_mbps abc
echo "$OUT" | grep -q "Invalid argument" || t_fail "bad value message: $OUT"
ctl --root "$ROOT" set migration_max_mbps 700
echo "$OUT" | grep -q "Numerical result out of range" || t_fail "out of range message: $OUT"
t_log "refused: '$OUT'"

# watch --count 2 terminates by itself (interval 2 s by default, then 0.2 s).
timeout 20 "$CTL" --root "$ROOT" watch --count 2 >"$T_TMP/watch.out" 2>&1 &
wpid=$!
t_exit_status "$wpid" 15
[ "$T_STOP_RC" -eq 0 ] || t_fail "watch --count 2: exit $T_STOP_RC: $(cat "$T_TMP/watch.out")"
[ "$(grep -c '^Every 2.0s: migshaperctl status' "$T_TMP/watch.out")" -eq 2 ] ||
	t_fail "watch --count 2 did not print twice: $(cat "$T_TMP/watch.out")"
ctl --root "$ROOT" watch --interval 0.2 --count 3
expect_rc 0 "watch --interval 0.2 --count 3"
[ "$(echo "$OUT" | grep -c '^Every 0.2s')" -eq 3 ] || t_fail "watch --count 3: $OUT"
t_log "watch --count terminates"

# Not root: told so, with the path, and exit 1 (the mount and its 0500
# directories are root's). The way to the mount is opened for the check.
command -v setpriv >/dev/null || t_fail "setpriv (util-linux) is missing"
chmod 0711 "$T_TMP"
chmod 0755 "$ROOT"
for args in "status" "get migration_max_mbps" "set migration_max_mbps 400" "--iface $LAB_HV1_IF status"; do
	RC=0
	# shellcheck disable=SC2086
	OUT=$(timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" --root "$ROOT" $args 2>&1) || RC=$?
	expect_rc 1 "'$args' as nobody"
	echo "$OUT" | grep -q "permission denied: $ROOT.*run as root" || t_fail "'$args' as nobody: $OUT"
done
chmod 0700 "$T_TMP"
[ "$(cat "$K/migration_max_mbps")" = 500 ] || t_fail "a denied set changed migration_max_mbps: $(cat "$K/migration_max_mbps")"
t_log "not root: permission denied, exit 1"

# A list cut off while written is refused; the knob keeps its value.
ports=$(cat "$K/mgmt_ports")
for v in "22," "22,,54321" ",22"; do
	ctl --root "$ROOT" set mgmt_ports "$v"
	expect_rc 1 "set mgmt_ports '$v'"
	[ "$(cat "$K/mgmt_ports")" = "$ports" ] || t_fail "set mgmt_ports '$v' changed it: $(cat "$K/mgmt_ports")"
done
t_log "lists with an empty element refused"

# Control characters from outside are escaped: a fake tree with a domain
# name and knob contents carrying an escape sequence and a newline.
fake="$T_TMP/fake/ifx"
esc=$'\e[31m'
mkdir -p "$fake/effective" "$fake/migrations/vm${esc}red" "$fake/stats/mgmt"
for f in link_mbps mgmt_reserve_mbps migration_aggregate_mbps migration_max_mbps migration_min_mbps \
	incoming_aggregate_mbps; do
	echo 100 >"$fake/$f"
	echo 100 >"$fake/effective/$f"
done
printf 'qemu:///x%s\n' "$esc" >"$fake/libvirt_uri"
for f in direction class rate_mbps libvirt_speed_mibs remaining_bytes dirty_rate_bps iteration state \
	autoconverge_throttle_pct manager_held advised_action stall_event stall_events; do
	echo 1 >"$fake/migrations/vm${esc}red/$f"
done
printf 'out%sgoing\n' "$esc" >"$fake/migrations/vm${esc}red/direction"
for f in bytes packets drops; do echo 1 >"$fake/stats/mgmt/$f"; done
ctl --root "$T_TMP/fake" status
expect_rc 0 "status of the fake tree"
case $OUT in *$'\e'*) t_fail "status printed an escape character: $(echo "$OUT" | od -c | head)" ;; esac
echo "$OUT" | grep -qF 'vm\x1b[31mred' || t_fail "the domain name is not shown escaped: $OUT"
echo "$OUT" | grep -qF 'out\x1b[31mgoing' || t_fail "the direction is not shown escaped: $OUT"
ctl --root "$T_TMP/fake" get libvirt_uri
expect_rc 0 "get of the fake tree"
[ "$OUT" = 'qemu:///x\x1b[31m' ] || t_fail "get libvirt_uri: '$OUT'"
t_log "control characters escaped"

# The agent gone: the CLI says so and exits 1.
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exit status $T_STOP_RC"
ctl --root "$ROOT" get migration_max_mbps
expect_rc 1 "get after the agent stopped"
t_log "PASS"
