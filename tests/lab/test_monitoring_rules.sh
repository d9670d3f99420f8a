#!/usr/bin/env bash
# The monitoring examples in scripts/monitoring/ are valid: the alert rules
# load (promtool check rules), behave as their unit tests say (promtool test
# rules alerts_test.yml), the example Prometheus config loads, and the
# Grafana dashboard is well-formed JSON that only queries migshaper series
# the agent exports or Prometheus' own `up`.
# Needs no privileges. Exit 0 pass, 1 fail, 77 when promtool is missing.
set -u
cd "$(dirname "$0")/../.." || exit 1
dir=scripts/monitoring
name=$(basename "$0" .sh)

log() { echo "[$name] $*"; }
fail() {
	log "FAIL: $*"
	exit 1
}

PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$PROMTOOL" ] || [ ! -x "$PROMTOOL" ]; then
	log "SKIP: promtool is missing (Debian: apt-get install prometheus)"
	exit 77
fi

"$PROMTOOL" check rules "$dir/alerts.yml" || fail "promtool check rules alerts.yml"
# promtool resolves rule_files relative to the test file's directory.
"$PROMTOOL" test rules "$dir/alerts_test.yml" || fail "promtool test rules alerts_test.yml"
"$PROMTOOL" check config "$dir/prometheus.yml" || fail "promtool check config prometheus.yml"

# Every alert has at least one unit test.
for alert in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$dir/alerts.yml"); do
	grep -q "alertname: $alert\$" "$dir/alerts_test.yml" || fail "alert $alert has no test"
done

# The dashboard parses and names no series the agent does not export.
tmp=$(mktemp --suffix=.yml)
trap 'rm -f "$tmp"' EXIT
python3 - "$dir/grafana/dashboards/migshaper.json" agent/ops/metrics.h "$tmp" <<'PY' || fail "grafana/dashboards/migshaper.json"
import json, re, sys
dash = json.load(open(sys.argv[1]))
exported = set(re.findall(r"migshaper_[a-z_]+", open(sys.argv[2]).read()))
# Brace forms in the header, e.g. migshaper_class_{bytes,packets}_total.
for m in re.finditer(r"(migshaper_[a-z_]*)\{([a-z_,]+)\}([a-z_]*)", open(sys.argv[2]).read()):
    for part in m.group(2).split(","):
        exported.add(m.group(1) + part + m.group(3))
exprs = []
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("expr", "query", "definition") and isinstance(v, str):
                exprs.append(v)
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(dash)
if not exprs:
    sys.exit("no queries found")
bad = sorted({n for e in exprs for n in re.findall(r"migshaper_[a-z_]+", e)} - exported)
if bad:
    sys.exit("queries use series the agent does not export: " + ", ".join(bad))
# The queries as recording rules, Grafana's variables replaced, so that
# promtool parses them as PromQL.
with open(sys.argv[3], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        for var, val in (("$__rate_interval", "1m"), ("$__range", "1h"), ("$instance", "hv1:9465"), ("$iface", "eth0")):
            e = e.replace(var, val)
        if e.startswith("label_values("):
            e = re.sub(r"^label_values\((.*), *[a-z_]+\)$", r"\1", e)
        f.write("      - record: dashboard:query_%d\n        expr: %s\n" % (i, json.dumps(e)))
print("dashboard: %d panels, %d queries, all series exported" % (len(dash["panels"]), len(exprs)))
PY
"$PROMTOOL" check rules "$tmp" >/dev/null || fail "a dashboard query is not valid PromQL (see above)"
log "PASS"
