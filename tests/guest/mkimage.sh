#!/bin/bash
# Build the migshaper dirtying test guest: a 1 KiB multiboot image that QEMU
# boots with -kernel (libvirt: <os><kernel>).
#
#   tests/guest/mkimage.sh OUT.img --dirty-mibs N [--start-mib S] [--end-mib E]
#                          [--tsc-khz K] [--heartbeat-sec H]
#
# Assembles tests/guest/dirty.asm (nasm -f bin) into $BUILD/guest/dirty.bin
# (BUILD defaults to "build", relative to the current directory), patches the
# parameter block at offset 0x3E0 (layout: see dirty.asm / README.md) and
# writes OUT.img.
#
#   --dirty-mibs N    integer MiB/s dirtied after the warm-up (0 = none)
#   --start-mib S     first MiB of the dirtied range (default 1, minimum 1)
#   --end-mib E       end of the range, exclusive (default 255; must not
#                     exceed the guest RAM, 256 MiB in the lab template)
#   --tsc-khz K       guest TSC frequency in kHz (default: detected, below)
#   --heartbeat-sec H print '.' on COM1 every H seconds (default 0 = off)
#
# Rate encoding: 1 page per burst, ticks = tsc_hz / 256 (256 bursts/s), and
# mult = N, so the guest dirties exactly N * 256 pages = N MiB per second.
#
# TSC frequency: under KVM the guest TSC runs at the host TSC rate.  Sources,
# first match wins: --tsc-khz, $TSC_KHZ, /sys/devices/system/cpu/cpu0/
# tsc_freq_khz, the kernel log line "tsc: Refined TSC clocksource
# calibration: X MHz", then "tsc: Detected X MHz processor" (dmesg, else
# journalctl -k), and last /proc/cpuinfo "cpu MHz" when the CPU has
# constant_tsc.  The chosen source is printed on stderr.
set -euo pipefail

die() { echo "mkimage.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
out=""
mibs=""
start_mib=1
end_mib=255
tsc_khz=""
hb_sec=0

while [ $# -gt 0 ]; do
    case "$1" in
        --dirty-mibs)    mibs=${2:?}; shift 2 ;;
        --start-mib)     start_mib=${2:?}; shift 2 ;;
        --end-mib)       end_mib=${2:?}; shift 2 ;;
        --tsc-khz)       tsc_khz=${2:?}; shift 2 ;;
        --heartbeat-sec) hb_sec=${2:?}; shift 2 ;;
        -h|--help)       usage ;;
        -*)              die "unknown option $1" ;;
        *)  [ -z "$out" ] || die "more than one output file"; out=$1; shift ;;
    esac
done
[ -n "$out" ] || usage
[ -n "$mibs" ] || die "--dirty-mibs N is required"
isint() { [[ "$1" =~ ^[0-9]+$ ]]; }
for v in "$mibs" "$start_mib" "$end_mib" "$hb_sec"; do
    isint "$v" || die "not a non-negative integer: $v"
done
[ "$start_mib" -ge 1 ] || die "--start-mib must be >= 1 (the guest runs below 1 MiB)"
[ "$end_mib" -gt "$start_mib" ] || die "--end-mib must be > --start-mib"
[ "$end_mib" -le 4095 ] || die "--end-mib must be < 4096"
if [ "$mibs" -gt 0 ] && [ $((end_mib - start_mib)) -lt $((mibs * 4)) ]; then
    echo "mkimage.sh: warning: range of $((end_mib - start_mib)) MiB is under 4 s" \
         "of dirtying at $mibs MiB/s; pages are re-dirtied sooner" >&2
fi

detect_tsc_khz() {
    local f=/sys/devices/system/cpu/cpu0/tsc_freq_khz v log
    if [ -n "${TSC_KHZ:-}" ]; then
        echo "$TSC_KHZ \$TSC_KHZ"; return
    fi
    if [ -r "$f" ] && v=$(cat "$f") && isint "$v" && [ "$v" -gt 0 ]; then
        echo "$v $f"; return
    fi
    log=$(dmesg 2>/dev/null || true)
    [ -n "$log" ] || log=$(journalctl -k -b --no-pager 2>/dev/null || true)
    v=$(printf '%s\n' "$log" | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9]*\)\.\([0-9]\{3\}\) MHz.*/\1\2/p' | tail -n1)
    if [ -n "$v" ]; then echo "$((10#$v)) kernel-log:refined-calibration"; return; fi
    v=$(printf '%s\n' "$log" | sed -n 's/.*tsc: Detected \([0-9]*\)\.\([0-9]\{3\}\) MHz.*/\1\2/p' | tail -n1)
    if [ -n "$v" ]; then echo "$((10#$v)) kernel-log:detected"; return; fi
    if grep -qw constant_tsc /proc/cpuinfo; then
        v=$(awk -F: '/^cpu MHz/ { printf "%d\n", $2 * 1000; exit }' /proc/cpuinfo)
        if [ -n "$v" ] && [ "$v" -gt 0 ]; then echo "$v /proc/cpuinfo:cpu-MHz"; return; fi
    fi
    return 1
}

if [ -n "$tsc_khz" ]; then
    tsc_src="--tsc-khz"
else
    read -r tsc_khz tsc_src < <(detect_tsc_khz) ||
        die "cannot determine the TSC frequency; pass --tsc-khz"
fi
isint "$tsc_khz" && [ "$tsc_khz" -ge 1000 ] || die "bad TSC frequency: $tsc_khz kHz"

command -v nasm >/dev/null || die "nasm not found (apt-get install -y nasm)"

BUILD=${BUILD:-build}
gdir="$BUILD/guest"
mkdir -p "$gdir"
bin="$gdir/dirty.bin"
nasm -f bin -o "$bin.tmp" "$here/dirty.asm"
[ "$(stat -c %s "$bin.tmp")" -eq 1024 ] || die "assembled image is not 1024 bytes"
mv -f "$bin.tmp" "$bin"

PARAM_OFF=$((0x3E0))
start=$((start_mib << 20))
end=$((end_mib << 20))
pages=1
ticks=$(( (tsc_khz * 1000 + 128) / 256 ))
mult=$mibs
hb=$((hb_sec * 256))
[ "$ticks" -lt $((1 << 32)) ] || die "TSC too fast for a 32-bit tick count"

le32() {
    local v=$1
    printf "\\x$(printf %02x $((v & 255)))\\x$(printf %02x $(((v >> 8) & 255)))\\x$(printf %02x $(((v >> 16) & 255)))\\x$(printf %02x $(((v >> 24) & 255)))"
}

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$bin" "$tmp"
[ "$(dd if="$tmp" bs=1 skip=$PARAM_OFF count=4 status=none)" = "MSDG" ] ||
    die "parameter block magic not found at offset $PARAM_OFF"
{ le32 "$start"; le32 "$end"; le32 "$pages"; le32 "$ticks"; le32 "$mult"; le32 "$hb"; } |
    dd of="$tmp" bs=1 seek=$((PARAM_OFF + 4)) conv=notrunc status=none
mv -f "$tmp" "$out"
trap - EXIT

echo "mkimage.sh: $out: ${mibs} MiB/s over [${start_mib}, ${end_mib}) MiB," \
     "tsc ${tsc_khz} kHz (${tsc_src}), ticks/burst ${ticks}, pages/burst ${pages}," \
     "mult ${mult}, heartbeat ${hb_sec}s" >&2
