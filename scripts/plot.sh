#!/usr/bin/env bash
# Draws the demo's plots with gnuplot (Debian: gnuplot-nox):
#   scripts/plot.sh DATA_DIR OUT_DIR
# reads what scripts/demo.sh recorded in DATA_DIR for its phases (without,
# srpt, fair, kill9; t_s: seconds since the phase started) and writes
#   OUT_DIR/demo-throughput.png  the wire's and each HTB class's throughput
#   OUT_DIR/demo-rtt.png         every heartbeat's RTT; misses marked
#   OUT_DIR/demo-manager.png     every manager call's latency; failures marked
# Input files (tests/lab/virtlib.sh, v_migrations_run):
#   PHASE.samples  t_s wire_bytes 1:10 1:20 1:21 1:30 1:100 1:101 1:102 1:103
#                  (byte counters read every ~0.5 s; 0 for a missing class)
#   PHASE.rtt      t_s rtt_ms hit|miss
#   PHASE.mgr      t_s latency_ms|nan ok|fail up|down persistent|fresh
# Exit 0, 1 on error, 77 if gnuplot is missing.
set -u
DATA=${1:?usage: plot.sh DATA_DIR OUT_DIR}
OUT=${2:?usage: plot.sh DATA_DIR OUT_DIR}
PHASES=(without srpt fair kill9)
declare -A TITLE=(
	[without]="1. without the agent"
	[srpt]="2. agent, defaults (srpt)"
	[fair]="3. agent, policy fair"
	[kill9]="4. agent killed with kill -9, then restarted"
)

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plot: gnuplot is missing (Debian: apt-get install gnuplot-nox)" >&2
	exit 77
fi
mkdir -p "$OUT"
have() { [ -s "$DATA/$1" ]; }

# Counter samples to Mbit/s over each pair of readings' own interval.
for p in "${PHASES[@]}"; do
	have "$p.samples" || continue
	awk 'NR > 1 && $1 > pt {
		dt = $1 - pt
		printf "%.3f", (pt + $1) / 2
		for (i = 2; i <= NF; i++) {
			d = $i - v[i]
			printf " %.2f", (d < 0 ? 0 : d) * 8 / dt / 1e6
		}
		printf "\n"
	}
	{ pt = $1; for (i = 2; i <= NF; i++) v[i] = $i }' "$DATA/$p.samples" >"$DATA/$p.rates"
done
# Heartbeat misses and failed manager calls, drawn at the top of their plots.
for p in "${PHASES[@]}"; do
	have "$p.rtt" && awk '$3 == "miss" { print $1, 1000 }' "$DATA/$p.rtt" >"$DATA/$p.misses"
	have "$p.mgr" && awk '$3 == "fail" { print $1, 2000 }' "$DATA/$p.mgr" >"$DATA/$p.fails"
done

panels=""
for p in "${PHASES[@]}"; do
	have "$p.rates" || continue
	plot="'$DATA/$p.rates' using 1:2 with lines lw 3 lc rgb '#000000' title 'wire total (L2)'"
	if [ "$p" != without ]; then
		plot+=", '$DATA/$p.rates' using 1:7 with lines lw 2 lc rgb '#1f77b4' title 'migration class 1:100'"
		plot+=", '$DATA/$p.rates' using 1:8 with lines lw 2 lc rgb '#ff7f0e' title '1:101'"
		plot+=", '$DATA/$p.rates' using 1:9 with lines lw 2 lc rgb '#9467bd' title '1:102'"
		plot+=", '$DATA/$p.rates' using 1:3 with lines lw 2 lc rgb '#2ca02c' title 'management 1:10'"
	fi
	panels+="set title '${TITLE[$p]}'
plot $plot
"
done
[ -n "$panels" ] || {
	echo "plot: no throughput data in $DATA" >&2
	exit 1
}
rtt_plots="" mgr_plots=""
colors=('#d62728' '#1f77b4' '#ff7f0e' '#2ca02c')
for i in "${!PHASES[@]}"; do
	p=${PHASES[$i]}
	if have "$p.rtt"; then
		rtt_plots+="${rtt_plots:+, }'$DATA/$p.rtt' using 1:(strcol(3) eq \"hit\" ? \$2 : 1/0) with points pt 7 ps 0.5 lc rgb '${colors[$i]}' title '${TITLE[$p]}'"
		have "$p.misses" && rtt_plots+=", '$DATA/$p.misses' using 1:2 with points pt 2 ps 2 lc rgb '${colors[$i]}' title 'missed'"
	fi
	if have "$p.mgr"; then
		mgr_plots+="${mgr_plots:+, }'$DATA/$p.mgr' using 1:(strcol(3) eq \"ok\" ? \$2 : 1/0) with linespoints pt 7 ps 0.8 lc rgb '${colors[$i]}' title '${TITLE[$p]}'"
		have "$p.fails" && mgr_plots+=", '$DATA/$p.fails' using 1:2 with points pt 2 ps 2 lc rgb '${colors[$i]}' title 'failed call'"
	fi
done

gnuplot <<EOF || exit 1
set terminal pngcairo size 1400,900 font 'DejaVu Sans,11' noenhanced
set output '$OUT/demo-throughput.png'
set multiplot layout 2,2 title "migshaper demo: hv1's 1 Gbit/s uplink while three VMs migrate (Mbit/s, counters every 0.5 s)" font ',13'
set grid
set key top right box opaque font ',9'
set yrange [0:1100]
set xlabel 'time since the phase started (s)'
set ylabel 'Mbit/s'
$panels
unset multiplot

set output '$OUT/demo-rtt.png'
set title "management heartbeat to hv1 (10/s, 1 s timeout): RTT of every request"
set logscale y
set yrange [0.01:2000]
set ylabel 'RTT (ms, log scale)'
set xlabel 'time since the phase started (s)'
set key top right box opaque
plot $rtt_plots

set output '$OUT/demo-manager.png'
set title "the manager's calls to hv1 (40 kB stats reply, 2 s timeout): latency of every call"
set yrange [0.03:4000]
set ylabel 'call latency (ms, log scale)'
plot $mgr_plots
EOF
