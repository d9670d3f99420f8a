#!/usr/bin/env bash
# Draws the demo's plots with gnuplot (Debian: gnuplot-nox):
#   scripts/plot.sh DATA_DIR OUT_DIR
# reads what scripts/demo.sh recorded in DATA_DIR and writes
#   OUT_DIR/demo-throughput.png  per-flow (without the agent) and per-class
#                                (with it) throughput over time
#   OUT_DIR/demo-rtt.png         every heartbeat's RTT over time, idle,
#                                without and with the agent; misses marked
# Input files (t_s: seconds since the migration flows started):
#   {without,with}.samples  t_s wire_bytes class_1:10 1:20 1:21 1:30 (bytes,
#                           counters read every ~0.5 s)
#   {without,with}.flowN    t_s mbit_s (iperf3 sender intervals, payload)
#   {idle,without,with}.rtt t_s rtt_ms hit|miss
# DEMO_SECS and DEMO_WARM (the heartbeat's length and start) and DEMO_CAP
# (migration_aggregate_mbps of the run with the agent) only label the plots. Exit 0, 1 on error, 77 if gnuplot is missing.
set -u
DATA=${1:?usage: plot.sh DATA_DIR OUT_DIR}
OUT=${2:?usage: plot.sh DATA_DIR OUT_DIR}
SECS=${DEMO_SECS:-15}
WARM=${DEMO_WARM:-2}
CAP=${DEMO_CAP:-850}

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plot: gnuplot is missing (Debian: apt-get install gnuplot-nox)" >&2
	exit 77
fi
mkdir -p "$OUT"

# Counter samples to rates: "t_mid wire c10 c20 c21 c30" in Mbit/s, from
# consecutive readings over their own interval (the loop's period drifts).
for run in without with; do
	[ -s "$DATA/$run.samples" ] || continue
	awk 'NR > 1 && $1 > pt {
		dt = $1 - pt
		printf "%.3f", (pt + $1) / 2
		for (i = 2; i <= 6; i++) {
			d = $i - p[i]
			printf " %.2f", (d < 0 ? 0 : d) * 8 / dt / 1e6
		}
		printf "\n"
	}
	{ pt = $1; for (i = 2; i <= 6; i++) p[i] = $i }' "$DATA/$run.samples" >"$DATA/$run.rates"
done

have() { [ -s "$DATA/$1" ]; }
# The mean of column COL of FILE, for legends: heartbeat traffic is too
# small to see on a 1 Gbit/s scale.
mean() { awk -v c="$2" '{ s += $c; n++ } END { printf "%.3f", n ? s / n : 0 }' "$DATA/$1"; }
tmax=$((WARM + SECS + 2))

plots_without=""
if have without.rates; then
	plots_without="'$DATA/without.rates' using 1:2 with lines lw 3 lc rgb '#000000' title 'wire total (L2, the TBF counter)'"
fi
for i in 0 1 2 3 4 5 6 7; do
	have "without.flow$i" || continue
	plots_without="${plots_without:+$plots_without, }'$DATA/without.flow$i' using 1:2 with lines lw 1.5 title 'migration flow $((i + 1)) (iperf3 sender, payload)'"
done
plots_with=""
if have with.rates; then
	plots_with="'$DATA/with.rates' using 1:2 with lines lw 3 lc rgb '#000000' title 'wire total (L2)', \
'$DATA/with.rates' using 1:5 with lines lw 2 lc rgb '#d62728' title 'unattributed migrations, HTB 1:21 (all 4 flows)', \
'$DATA/with.rates' using 1:6 with lines lw 2 lc rgb '#7f7f7f' title 'default, HTB 1:30', \
'$DATA/with.rates' using 1:3 with lines lw 2 lc rgb '#2ca02c' title sprintf('management, HTB 1:10 (heartbeat, mean %s Mbit/s)', '$(mean with.rates 3)')"
fi
if [ -z "$plots_without" ] && [ -z "$plots_with" ]; then
	echo "plot: no throughput data in $DATA" >&2
	exit 1
fi

gnuplot <<EOF || exit 1
set terminal pngcairo size 1200,900 font 'DejaVu Sans,11' noenhanced
set output '$OUT/demo-throughput.png'
set multiplot layout 2,1 title "migshaper demo: hv1's 1 Gbit/s uplink while 4 migration flows run (counters sampled every 0.5 s)" font ',13'
set grid
# Inside, where the curves leave room, so both panels get the same width.
set key inside right center vertical box opaque
set xrange [0:$tmax]
set yrange [0:1100]
set xlabel 'time since the migration flows started (s)'
set ylabel 'throughput (Mbit/s)'
set arrow 1 from $WARM, graph 0 to $WARM, graph 1 nohead dt 3 lc rgb '#1f77b4'
set arrow 2 from $((WARM + SECS)), graph 0 to $((WARM + SECS)), graph 1 nohead dt 3 lc rgb '#1f77b4'
set label 1 'heartbeat measured' at $WARM + 0.2, graph 0.06 tc rgb '#1f77b4'
set title 'Without migshaper: the flows fill the wire and its FIFO'
set key at graph 0.99, graph 0.83 right top
$([ -n "$plots_without" ] && echo "plot $plots_without" || echo "set label 2 'not run' at graph 0.5, graph 0.5; plot NaN notitle")
set title 'With migshaper: HTB classes on hv1 (migrations capped at $CAP Mbit/s, management first)'
set key inside right center
set arrow 3 from 0, $CAP to $tmax, $CAP nohead dt 2 lc rgb '#d62728'
set label 3 'migration aggregate cap $CAP Mbit/s' at 0.3, $CAP + 30 tc rgb '#d62728'
$([ -n "$plots_with" ] && echo "plot $plots_with" || echo "set label 2 'not run (agent not built)' at graph 0.4, graph 0.5; plot NaN notitle")
unset multiplot
EOF

rtt_plots=""
miss_y=1000
for run in idle without with; do
	have "$run.rtt" || continue
	case $run in
	idle) color='#2ca02c' name='idle (no migration)' ;;
	without) color='#d62728' name='migrations, without migshaper' ;;
	with) color='#1f77b4' name='migrations, with migshaper' ;;
	esac
	sent=$(wc -l <"$DATA/$run.rtt")
	misses=$(awk '$3 == "miss"' "$DATA/$run.rtt" | wc -l)
	p50=$(awk '$3 == "hit" { print $2 }' "$DATA/$run.rtt" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", v[int((NR + 1) / 2)]; else printf "-" }')
	rtt_plots="${rtt_plots:+$rtt_plots, }'$DATA/$run.rtt' using 1:(strcol(3) eq 'hit' ? \$2 : NaN) with linespoints pt 7 ps 0.5 lw 1 lc rgb '$color' title '$name: median $p50 ms, $misses of $sent missed'"
	# Missed requests (no echo within the 1 s timeout) as crosses at the top.
	if [ "$misses" -gt 0 ]; then
		rtt_plots="$rtt_plots, '$DATA/$run.rtt' using 1:(strcol(3) eq 'miss' ? $miss_y : NaN) with points pt 2 ps 1.5 lw 2 lc rgb '$color' title '$name: missed (drawn at 1000 ms)'"
	fi
done
if [ -z "$rtt_plots" ]; then
	echo "plot: no heartbeat traces in $DATA" >&2
	exit 1
fi

gnuplot <<EOF || exit 1
set terminal pngcairo size 1200,600 font 'DejaVu Sans,11' noenhanced
set output '$OUT/demo-rtt.png'
set title "Management heartbeat RTT: mgr -> hv1 -> mgr over TCP, 10 requests/s, 1 s timeout (every request)" font ',13'
set grid
set key outside bottom center vertical maxrows 3
set logscale y
set yrange [0.01:2000]
set xrange [0:$tmax]
set format y '%g'
set xlabel 'time since the migration flows started (s); the idle run is drawn on the same axis'
set ylabel 'round-trip time (ms, log scale)'
plot $rtt_plots
EOF
echo "plot: wrote $OUT/demo-throughput.png and $OUT/demo-rtt.png"
