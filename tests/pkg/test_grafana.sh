#!/usr/bin/env bash
# The Grafana provisioning files in the source tree: the dashboard provider
# (scripts/monitoring/grafana/provisioning/dashboards/migshaper.yml) parses as
# Grafana's provider format and its path is the folder the Debian package
# installs the dashboards to (debian/migshaper.install); each dashboard there
# parses and can be provisioned (uid, title, data source as a variable).
# tests/pkg/test_deb.sh checks the same on the installed package.
# Needs no privileges. Exit 0 pass, 1 fail, 77 when python3 or its yaml
# module is missing (a failure under CI=true).
set -u
cd "$(dirname "$0")/../.." || exit 1
name=$(basename "$0" .sh)
. tests/pkg/lib.sh

need_tools python3
python3 -c 'import yaml' 2>/dev/null || missing "python3's yaml module is missing (make deps installs python3-yaml)"

provider=scripts/monitoring/grafana/provisioning/dashboards/migshaper.yml
[ -f "$provider" ] || fail "$provider is missing"
python3 tests/pkg/check_grafana.py --provider "$provider" --install-map debian/migshaper.install ||
	fail "Grafana provisioning (see above)"
log PASS
