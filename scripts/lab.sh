#!/usr/bin/env bash
# The migshaper namespace lab: `lab.sh up|down|status`. See scripts/lab-lib.sh
# for the topology. Environment: LAB_WIRE_MBIT (default 1000),
# LAB_WIRE_QUEUE_PKTS (1000), LAB_OFFLOAD (1), LAB_TCP_CC (cubic).
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/lab-lib.sh
. scripts/lab-lib.sh

case "${1:-}" in
up)
	lab_up
	rc=$?
	if [ $rc -ne 0 ]; then
		lab_down
		exit $rc
	fi
	;;
down) lab_down ;;
status) lab_status ;;
-h | --help)
	echo "usage: $0 up|down|status"
	;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac
