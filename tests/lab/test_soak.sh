#!/usr/bin/env bash
# The 60 s soak that `make check` runs (`make soak` runs the 600 s one): the
# agent under continuous real migrations, a knob write and a /metrics scrape
# every second and a libvirtd restart keeps a flat RSS, no fd growth and
# misses no management heartbeat. Exit 0/1/77 as tests/long/soak.sh.
exec bash "$(dirname "$0")/../long/soak.sh" 60
