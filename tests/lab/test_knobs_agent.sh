#!/usr/bin/env bash
# The knob tree (FUSE) with the real agent in the lab:
#  1. modes: knobs 0600, generated files 0400, directories 0500; read-only
#     files refuse writers (EACCES);
#  2. `cat` and `echo` every knob: writing back what was read changes nothing,
#     a new valid value reads back and reaches the kernel (tc class rates read
#     with `tc class show`, the classifier's maps with bpftool);
#  3. every invalid write (not a number, negative, overflow, above the link,
#     cross-key violations, a malformed CIDR, a reversed port range, a lone
#     newline, a NUL byte, 64 KiB and 1 MiB) fails with the documented errno,
#     read exactly with os.write(), and leaves every knob, the tc classes and
#     the BPF maps (ms_ports, ms_mgmt_cidrs, ms_config, ms_cidr_hint) as they
#     were; bash's echo reports the error and exits non-zero;
#  4. an empty write (`printf '' > knob`): open(O_TRUNC) is accepted and no
#     write request reaches the agent, so it succeeds and changes nothing; a
#     lone newline clears a list knob (documented) and is refused elsewhere;
#  5. concurrent writers (4 loops, two of them on the same knob) leave the
#     knobs equal to what tc and the port map show;
#  6. after SIGTERM the mount is gone from /proc/mounts and the directory too.
# Each step names the case it failed on. Every wait is on an event (a log
# line, a process exit).
. "$(dirname "$0")/lib.sh"

for c in bpftool python3 md5sum; do
	command -v "$c" >/dev/null 2>&1 || t_skip "missing command: $c"
done
[ -c /dev/fuse ] || t_skip "no /dev/fuse"
t_setup need_agent

PIN="/sys/fs/bpf/migshaper/$LAB_HV1_IF"
conf="$T_TMP/agent.conf"
log="$T_TMP/agent.log"
K="$T_TMP/run/$LAB_HV1_IF"
KNOBS=(link_mbps mgmt_reserve_mbps migration_aggregate_mbps migration_max_mbps
	migration_min_mbps dscp_marking speed_coordination cycle_ms report_interval_ms
	log_level libvirt_uri mgmt_cidrs mgmt_ports migration_ports)

# w FILE VALUE | w FILE --size N: one open(O_WRONLY|O_TRUNC) and one
# os.write() of VALUE (\n and \x00 escapes) or of N bytes; the reply in W,
# "OK <bytes>" or the errno's name ("open:EACCES" if open failed). A single
# python3 serves every request: one start per write would cost more than the
# whole check.
cat >"$T_TMP/w.py" <<'EOF'
import errno, os, sys
for line in sys.stdin:
    path, mode, arg = line.rstrip("\n").split("\t", 2)
    if mode == "size":
        data = b"1" * int(arg)
    else:
        data = arg.encode().decode("unicode_escape").encode("latin1")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        print("open:" + errno.errorcode[e.errno], flush=True)
        continue
    try:
        print("OK %d" % os.write(fd, data), flush=True)
    except OSError as e:
        print(errno.errorcode[e.errno], flush=True)
    finally:
        os.close(fd)
EOF
coproc WPY { exec python3 "$T_TMP/w.py"; }
T_BG_PIDS+=("$WPY_PID")
W=
w() {
	local mode=value arg=$2
	if [ "$2" = --size ]; then
		mode=size
		arg=$3
	fi
	W="(no reply)"
	printf '%s\t%s\t%s\n' "$1" "$mode" "$arg" >&"${WPY[1]}"
	IFS= read -r -t 20 W <&"${WPY[0]}" || t_fail "the python writer did not answer"
}

knob_values() {
	local f
	for f in "${KNOBS[@]}"; do printf '%s=%s\n' "$f" "$(tr '\n' ' ' <"$K/$f")"; done
}
tc_classes() { ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF"; }
# The maps that are small enough to dump after every write.
small_maps() {
	bpftool -j map dump pinned "$PIN/ms_mgmt_cidrs"
	bpftool -j map dump pinned "$PIN/ms_config"
}
# ms_ports and ms_cidr_hint have 65536 entries each: digests of full dumps.
ports_digest() { bpftool map dump pinned "$PIN/ms_ports" | md5sum; }
hint_digest() { bpftool map dump pinned "$PIN/ms_cidr_hint" | md5sum; }
port_flags() {
	bpftool -j map lookup pinned "$PIN/ms_ports" key $(($1 & 255)) $(($1 >> 8)) 0 0 |
		jq '.formatted.value'
}
# Ports whose flags have BIT set, one line: "22,16509,54321".
ports_with() {
	bpftool -j map dump pinned "$PIN/ms_ports" |
		jq -r --argjson b "$1" '[.[] | select((.formatted.value / $b | floor) % 2 == 1) | .formatted.key] | map(tostring) | join(",")'
}
# The trie's CIDRs as the knob shows them, sorted, comma-separated.
trie_cidrs() {
	bpftool -j map dump pinned "$PIN/ms_mgmt_cidrs" | python3 -c '
import ipaddress, json, sys
out = []
for e in json.load(sys.stdin):
    k = e["formatted"]["key"]
    a = ipaddress.IPv6Address(bytes(k["addr"]))
    p = k["prefixlen"]
    if a.ipv4_mapped is not None and p >= 96:
        out.append("%s/%d" % (a.ipv4_mapped, p - 96))
    else:
        out.append("%s/%d" % (a, p))
print(",".join(sorted(out)))'
}
knob_cidrs() { tr '\n' ' ' <"$K/mgmt_cidrs" | xargs -n1 | sort | paste -sd, -; }
# tc_mbit CLASSID rate|ceil: the class's rate or ceil in Mbit/s (tc prints 950Mbit, 1Gbit, 500Kbit).
tc_mbit() {
	ip netns exec "$LAB_NS_HV1" tc class show dev "$LAB_HV1_IF" classid "$1" |
		awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) v = $(i + 1) }
			END {
				if (v ~ /Gbit$/) m = 1000; else if (v ~ /Mbit$/) m = 1;
				else if (v ~ /Kbit$/) m = 0.001; else m = 0.000001
				sub(/[A-Za-z]+$/, "", v); printf "%g\n", v * m }'
}
knob() { head -n1 "$K/$1"; }
# The state a refused write must leave alone.
snapshot() { printf '%s\n--\n%s\n--\n%s\n' "$(knob_values)" "$(tc_classes)" "$(small_maps)"; }

t_config "$conf"
echo "libvirt_uri = none" >>"$conf"
t_agent_start "$conf" "$log" || t_fail "agent did not get ready"
t_wait_until 5 mountpoint -q "$K" || t_fail "the agent did not mount its knobs at $K"
awk -v p="$K" '$2 == p { found = 1 } END { exit !found }' /proc/mounts || t_fail "$K is not in /proc/mounts"
grep -q " $K fuse.migshaper " /proc/mounts || t_fail "$K is not a fuse.migshaper mount: $(grep " $K " /proc/mounts)"

# ---- 1. modes --------------------------------------------------------------
for f in "${KNOBS[@]}"; do
	[ "$(stat -c '%a %U' "$K/$f")" = "600 root" ] || t_fail "$f: mode $(stat -c '%a %U' "$K/$f"), expected 600 root"
done
for f in stats/mgmt/bytes stats/mgmt/packets stats/mgmt/drops stats/aggregate/bytes \
	stats/unattributed/bytes stats/default/bytes; do
	[ "$(stat -c '%a' "$K/$f")" = 400 ] || t_fail "$f: mode $(stat -c '%a' "$K/$f"), expected 400"
	w "$K/$f" 1 # root passes permission checks: the agent must refuse itself
	[ "$W" = open:EACCES ] || t_fail "write to read-only $f: $W, expected open:EACCES"
done
for d in . migrations stats stats/mgmt; do
	[ "$(stat -c '%a' "$K/$d")" = 500 ] || t_fail "directory $d: mode $(stat -c '%a' "$K/$d"), expected 500"
done
if (: >"$K/newfile") 2>/dev/null; then t_fail "creating a file in the knob tree succeeded"; fi
t_log "modes ok (knobs 0600, generated 0400, dirs 0500); read-only files refuse writers"

# ---- 2. cat and echo every knob --------------------------------------------
base_knobs=$(knob_values)
base_tc=$(tc_classes)
base_small=$(small_maps)
base_ports=$(ports_digest)
base_hint=$(hint_digest)
t_log "knobs at start: $(echo "$base_knobs" | paste -sd' ' -)"
[ "$(knob link_mbps)" = 950 ] && [ "$(knob migration_aggregate_mbps)" = 800 ] ||
	t_fail "knobs do not show the config: $base_knobs"
[ "$(knob_cidrs)" = "$(trie_cidrs)" ] || t_fail "mgmt_cidrs $(knob_cidrs) but the trie holds $(trie_cidrs)"

# Writing back what was read (with echo, as an operator would) changes nothing.
for f in "${KNOBS[@]}"; do
	v=$(cat "$K/$f")
	echo "$v" >"$K/$f" || t_fail "echo '$v' > $f (its own value) failed"
done
[ "$(snapshot)" = "$(printf '%s\n--\n%s\n--\n%s\n' "$base_knobs" "$base_tc" "$base_small")" ] ||
	t_fail "writing every knob's own value back changed something"
[ "$(ports_digest)" = "$base_ports" ] || t_fail "writing values back changed ms_ports"

# A new value per knob: read back, and its kernel effect where it has one.
# set KNOB VALUE SHOWN: echo VALUE, then the knob must read SHOWN.
set_knob() {
	echo "$2" >"$K/$1" || t_fail "echo '$2' > $1 failed: $(tail -n1 "$log")"
	[ "$(tr '\n' ',' <"$K/$1" | sed 's/,$//')" = "$3" ] ||
		t_fail "$1 reads '$(cat "$K/$1")' after writing '$2', expected '$3'"
}
set_knob link_mbps 940 940
[ "$(tc_mbit 1:1 rate)" = 940 ] || t_fail "link_mbps 940: class 1:1 rate $(tc_mbit 1:1 rate)"
set_knob mgmt_reserve_mbps 90 90
[ "$(tc_mbit 1:10 rate)" = 90 ] || t_fail "mgmt_reserve_mbps 90: class 1:10 rate $(tc_mbit 1:10 rate)"
set_knob migration_max_mbps 600 600
[ "$(tc_mbit 1:21 ceil)" = 600 ] || t_fail "migration_max_mbps 600: class 1:21 ceil $(tc_mbit 1:21 ceil)"
set_knob migration_aggregate_mbps 700 700
[ "$(tc_mbit 1:20 rate)" = 700 ] || t_fail "migration_aggregate_mbps 700: class 1:20 rate $(tc_mbit 1:20 rate)"
set_knob migration_min_mbps 40 40
[ "$(tc_mbit 1:21 rate)" = 40 ] || t_fail "migration_min_mbps 40: class 1:21 rate $(tc_mbit 1:21 rate)"
set_knob migration_max_mbps auto auto # auto stays auto; effective/ shows it resolved
[ "$(cat "$K/effective/migration_max_mbps")" = 700 ] ||
	t_fail "migration_max_mbps auto: effective/migration_max_mbps $(cat "$K/effective/migration_max_mbps")"
[ "$(tc_mbit 1:21 ceil)" = 700 ] || t_fail "migration_max_mbps auto: class 1:21 ceil $(tc_mbit 1:21 ceil)"
set_knob dscp_marking 1 1
[ "$(bpftool -j map dump pinned "$PIN/ms_config" | jq '.[0].formatted.value.flags')" = 1 ] ||
	t_fail "dscp_marking 1: ms_config flags $(bpftool -j map dump pinned "$PIN/ms_config")"
set_knob report_interval_ms 2500 2500
[ "$(bpftool -j map dump pinned "$PIN/ms_config" | jq '.[0].formatted.value.report_interval_ms')" = 2500 ] ||
	t_fail "report_interval_ms 2500: ms_config $(bpftool -j map dump pinned "$PIN/ms_config")"
set_knob speed_coordination 0 0
set_knob cycle_ms 500 500
set_knob log_level debug debug
set_knob libvirt_uri none none
set_knob mgmt_cidrs "10.1.0.0/16,fd01::/64" "10.1.0.0/16,fd01::/64"
[ "$(trie_cidrs)" = "10.1.0.0/16,fd01::/64" ] || t_fail "mgmt_cidrs: the trie holds $(trie_cidrs)"
set_knob mgmt_cidrs "10.1.2.3/16 198.18.0.3" "10.1.0.0/16,198.18.0.3/32" # host bits cleared, /32 implied
[ "$(trie_cidrs)" = "10.1.0.0/16,198.18.0.3/32" ] || t_fail "mgmt_cidrs: the trie holds $(trie_cidrs)"
[ "$(port_flags 2222)" = 0 ] || t_fail "port 2222 flagged before it was set: $(port_flags 2222)"
set_knob mgmt_ports "22 2222,54321" "22,2222,54321"
[ "$(ports_with 1)" = "22,2222,54321" ] || t_fail "mgmt_ports 22,2222,54321: ms_ports mgmt ports are $(ports_with 1)"
set_knob migration_ports 50000-50009 50000-50009
[ "$(port_flags 50000)" = 2 ] && [ "$(port_flags 50009)" = 2 ] && [ "$(port_flags 49152)" = 0 ] &&
	[ "$(port_flags 50010)" = 0 ] || t_fail "migration_ports 50000-50009: ms_ports not updated"
t_log "every knob took a new value; tc classes and BPF maps followed"

# Back to the start, then everything must be as it was.
restore() {
	local kv
	# Order matters for the cross-key checks: shrink before growing.
	for kv in migration_min_mbps=50 migration_max_mbps=800 migration_aggregate_mbps=800 \
		mgmt_reserve_mbps=100 link_mbps=950 migration_max_mbps=800 migration_min_mbps=50; do
		echo "${kv#*=}" >"$K/${kv%%=*}" 2>/dev/null
	done
	# knob_values joined a value's lines with spaces: a valid list separator.
	while IFS='=' read -r f v; do
		[ "$(tr '\n' ' ' <"$K/$f")" = "$v" ] && continue
		echo "${v% }" >"$K/$f" || t_fail "restoring $f to '$v' failed"
	done <<<"$base_knobs"
}
restore
[ "$(knob_values)" = "$base_knobs" ] || t_fail "could not restore the knobs: $(knob_values)"
[ "$(tc_classes)" = "$base_tc" ] || t_fail "tc classes differ after restoring every knob"
[ "$(small_maps)" = "$base_small" ] || t_fail "ms_mgmt_cidrs/ms_config differ after restoring"
[ "$(ports_digest)" = "$base_ports" ] || t_fail "ms_ports differs after restoring"

# ---- 3. invalid writes -------------------------------------------------------
# KNOB|VALUE|ERRNO. Values are w.py escapes; the agent's current state is the
# config's (link 950, reserve 100, aggregate 800, max 800, min 50, ports
# 49152-49215, mgmt ports 22,16509,54321).
cases=(
	"migration_max_mbps|abc|EINVAL"
	"migration_max_mbps|-5|EINVAL"
	"migration_max_mbps|+5|EINVAL"
	"migration_max_mbps|1.5|EINVAL"
	"migration_max_mbps|0x10|EINVAL"
	"migration_max_mbps| 500|EINVAL"
	"migration_max_mbps|500 |EINVAL"
	"migration_max_mbps|500\\n\\n|EINVAL"
	"migration_max_mbps|5\\x0000|EINVAL"
	"migration_max_mbps|\\n|EINVAL"
	"migration_max_mbps|99999999999999999999999|ERANGE"
	"migration_max_mbps|4294967296|ERANGE"
	"migration_max_mbps|1000001|ERANGE"
	"migration_max_mbps|0|ERANGE"
	"migration_max_mbps|900|ERANGE"
	"migration_aggregate_mbps|2000|ERANGE"
	"migration_aggregate_mbps|900|ERANGE"
	"mgmt_reserve_mbps|950|ERANGE"
	"mgmt_reserve_mbps|-1|EINVAL"
	"link_mbps|800|ERANGE"
	"link_mbps|18446744073709551616|ERANGE"
	"link_mbps|lots|EINVAL"
	"migration_min_mbps|801|ERANGE"
	"dscp_marking|2|ERANGE"
	"dscp_marking|yes|EINVAL"
	"speed_coordination|-1|EINVAL"
	"cycle_ms|99|ERANGE"
	"cycle_ms|60001|ERANGE"
	"report_interval_ms|0|ERANGE"
	"log_level|verbose|EINVAL"
	"log_level|\\n|EINVAL"
	"libvirt_uri|not a uri|EINVAL"
	"mgmt_cidrs|10.0.0.0/33|ERANGE"
	"mgmt_cidrs|fd00::/129|ERANGE"
	"mgmt_cidrs|10.0.0.300/8|EINVAL"
	"mgmt_cidrs|10.0.0.0/8,bogus|EINVAL"
	"mgmt_cidrs|/24|EINVAL"
	"mgmt_cidrs|10.0.0.0/|EINVAL"
	"mgmt_cidrs|10.0.0.0/-1|EINVAL"
	"mgmt_ports|0|ERANGE"
	"mgmt_ports|65536|ERANGE"
	"mgmt_ports|22,http|EINVAL"
	"mgmt_ports|-22|EINVAL"
	"mgmt_ports|22,49160|EINVAL"
	"mgmt_ports|22,|EINVAL"
	"mgmt_ports|22,,54321|EINVAL"
	"mgmt_ports|,22|EINVAL"
	"mgmt_cidrs|10.0.0.0/8,|EINVAL"
	"migration_ports|49215-49152|ERANGE"
	"migration_ports|0-10|ERANGE"
	"migration_ports|1-65536|ERANGE"
	"migration_ports|a-b|EINVAL"
	"migration_ports|49152-|EINVAL"
	"migration_ports|-49152|EINVAL"
	"migration_ports|49152-49215-1|EINVAL"
	"migration_ports|1-100|EINVAL"
	"migration_ports|\\n|EINVAL"
)
base="$(snapshot)"
n=0
for c in "${cases[@]}"; do
	IFS='|' read -r f v want <<<"$c"
	w "$K/$f" "$v"
	[ "$W" = "$want" ] || t_fail "write '$v' to $f: $W, expected $want"
	[ "$(snapshot)" = "$base" ] || t_fail "refused write '$v' to $f changed state: $(diff <(echo "$base") <(snapshot))"
	case $f in
	mgmt_ports | migration_ports | mgmt_cidrs)
		[ "$(ports_digest)" = "$base_ports" ] || t_fail "refused write '$v' to $f changed ms_ports"
		;;
	esac
	n=$((n + 1))
done
# Sizes: a value must be shorter than 64 KiB (65535 bytes still parse: a
# number that long is out of range); 1 MiB arrives in several FUSE writes.
for c in "migration_max_mbps|65535|ERANGE" "migration_max_mbps|65536|EFBIG" \
	"migration_max_mbps|1048576|EFBIG" "mgmt_cidrs|1048576|EFBIG" "link_mbps|65534|ERANGE"; do
	IFS='|' read -r f size want <<<"$c"
	w "$K/$f" --size "$size"
	[ "$W" = "$want" ] || t_fail "a $size-byte write to $f: $W, expected $want"
	[ "$(snapshot)" = "$base" ] || t_fail "refused $size-byte write to $f changed state"
	n=$((n + 1))
done
[ "$(ports_digest)" = "$base_ports" ] || t_fail "refused writes changed ms_ports"
[ "$(hint_digest)" = "$base_hint" ] || t_fail "refused writes changed ms_cidr_hint"
t_log "$n invalid writes refused with the expected errno; knobs, tc classes and BPF maps unchanged"
t_wait_log "$log" "rejected" 2 || t_fail "refusals are not logged"

# The shell sees the error too: echo fails and bash prints strerror.
msg=$( (echo abc >"$K/migration_max_mbps") 2>&1) && t_fail "echo abc > migration_max_mbps succeeded"
echo "$msg" | grep -q "Invalid argument" || t_fail "bash said '$msg', expected Invalid argument"
msg=$( (echo 2000 >"$K/migration_aggregate_mbps") 2>&1) && t_fail "echo 2000 > migration_aggregate_mbps succeeded"
echo "$msg" | grep -q "Numerical result out of range" || t_fail "bash said '$msg', expected ERANGE's message"
msg=$( (echo 49215-49152 >"$K/migration_ports") 2>&1) && t_fail "a reversed port range was accepted"
t_log "bash: '$msg'"
[ "$(snapshot)" = "$base" ] || t_fail "refused echo writes changed state"

# ---- 4. empty writes and lone newlines ---------------------------------------
# printf '' > knob: open(O_TRUNC) reaches the agent as a size change, which a
# knob accepts; a zero-byte write() never reaches FUSE. Succeeds, changes nothing.
printf '' >"$K/migration_max_mbps" || t_fail "printf '' > migration_max_mbps failed"
printf '' >"$K/mgmt_cidrs" || t_fail "printf '' > mgmt_cidrs failed"
w "$K/migration_max_mbps" ""
[ "$W" = "OK 0" ] || t_fail "os.write of 0 bytes: $W, expected OK 0"
[ "$(snapshot)" = "$base" ] || t_fail "an empty write changed state"
[ "$(ports_digest)" = "$base_ports" ] || t_fail "an empty write changed ms_ports"
t_log "empty write: succeeds (exit 0), changes nothing"
# A lone newline clears a list knob (documented), and the kernel follows.
echo >"$K/mgmt_cidrs" || t_fail "echo > mgmt_cidrs (clear) failed"
[ -z "$(tr -d '\n' <"$K/mgmt_cidrs")" ] || t_fail "mgmt_cidrs not cleared: $(cat "$K/mgmt_cidrs")"
[ "$(bpftool -j map dump pinned "$PIN/ms_mgmt_cidrs" | jq length)" = 0 ] || t_fail "ms_mgmt_cidrs not empty after clearing"
echo >"$K/mgmt_ports" || t_fail "echo > mgmt_ports (clear) failed"
[ -z "$(ports_with 1)" ] || t_fail "ms_ports still has management ports: $(ports_with 1)"
restore
[ "$(snapshot)" = "$base" ] || t_fail "could not restore after clearing the lists"
t_log "lone newline: clears mgmt_cidrs/mgmt_ports (maps emptied), EINVAL elsewhere"

# A multi-line value through echo arrives one line per write() and each prefix
# is applied; a bad later line must still leave the knob as it was
# ("a rejected write changes nothing"): the agent puts back the value from
# before the open.
msg=$( (echo $'10.9.0.0/16\nbogus' >"$K/mgmt_cidrs") 2>&1) && t_fail "a list with a bad line was accepted"
[ "$(snapshot)" = "$base" ] ||
	t_fail "a rejected multi-line write left '$(knob_cidrs)' applied (trie: $(trie_cidrs))"
t_log "multi-line write with a bad last line: refused ($msg), nothing changed"

# ---- 5. concurrent writers ---------------------------------------------------
# Four loops: two on migration_max_mbps, one on migration_min_mbps, one on
# mgmt_ports. Every value is valid whatever the others wrote.
ROUNDS=${KNOB_ROUNDS:-15}
writer() { # NAME KNOB VALUE_A VALUE_B: alternates, counting failures
	local name=$1 f=$2 a=$3 b=$4 i fails=0
	for ((i = 0; i < ROUNDS; i++)); do
		echo "$a" >"$K/$f" 2>/dev/null || fails=$((fails + 1))
		echo "$b" >"$K/$f" 2>/dev/null || fails=$((fails + 1))
	done
	echo "$fails" >"$T_TMP/writer-$name.fails"
}
pids=()
writer max1 migration_max_mbps 400 600 &
pids+=($!)
writer max2 migration_max_mbps 500 700 &
pids+=($!)
writer min migration_min_mbps 20 40 &
pids+=($!)
writer ports mgmt_ports "22,16509,54321,2222" "22,16509,54321,3333" &
pids+=($!)
T_BG_PIDS+=("${pids[@]}")
for p in "${pids[@]}"; do
	t_wait_exit "$p" 40 || t_fail "a concurrent writer did not finish within 40 s"
	wait "$p"
done
for name in max1 max2 min ports; do
	[ "$(cat "$T_TMP/writer-$name.fails")" = 0 ] ||
		t_fail "writer $name: $(cat "$T_TMP/writer-$name.fails") valid writes failed"
done
kill -0 "$T_AGENT_PID" 2>/dev/null || t_fail "the agent died under concurrent writers"
max=$(knob migration_max_mbps)
min=$(knob migration_min_mbps)
t_log "after $((ROUNDS * 8)) concurrent writes: max $max min $min mgmt_ports $(knob mgmt_ports)"
[ "$max" = 600 ] || [ "$max" = 700 ] || t_fail "migration_max_mbps is $max, expected a last write (600 or 700)"
[ "$min" = 40 ] || t_fail "migration_min_mbps is $min, expected the last write 40"
[ "$(knob mgmt_ports)" = "22,16509,54321,3333" ] || t_fail "mgmt_ports is $(knob mgmt_ports)"
# Knobs against the kernel.
for kc in link_mbps:1:1:rate mgmt_reserve_mbps:1:10:rate migration_aggregate_mbps:1:20:rate \
	migration_aggregate_mbps:1:20:ceil migration_max_mbps:1:21:ceil migration_min_mbps:1:21:rate; do
	IFS=: read -r f maj mn field <<<"$kc"
	[ "$(tc_mbit "$maj:$mn" "$field")" = "$(knob "$f")" ] ||
		t_fail "$f reads $(knob "$f") but class $maj:$mn $field is $(tc_mbit "$maj:$mn" "$field") Mbit"
done
[ "$(ports_with 1)" = "$(knob mgmt_ports | tr ',' '\n' | sort -n | paste -sd, -)" ] ||
	t_fail "mgmt_ports reads $(knob mgmt_ports) but ms_ports has $(ports_with 1)"
mig=$(ports_with 2)
[ "${mig%%,*}-${mig##*,}" = "$(knob migration_ports)" ] && [ "$(echo "$mig" | tr ',' '\n' | wc -l)" = 64 ] ||
	t_fail "migration_ports reads $(knob migration_ports) but ms_ports has ${mig%%,*}..${mig##*,}"
[ "$(knob_cidrs)" = "$(trie_cidrs)" ] || t_fail "mgmt_cidrs $(knob_cidrs) but the trie holds $(trie_cidrs)"
t_log "concurrent writers: knobs equal tc classes and the port map"

# ---- 6. SIGTERM unmounts -----------------------------------------------------
t_agent_stop "$T_AGENT_PID"
[ "$T_STOP_RC" -eq 0 ] || t_fail "agent exit status $T_STOP_RC"
awk -v p="$K" '$2 == p { found = 1 } END { exit found }' /proc/mounts || t_fail "$K is still mounted after SIGTERM"
[ ! -e "$K" ] || t_fail "$K is still there after SIGTERM"
t_log "PASS"
