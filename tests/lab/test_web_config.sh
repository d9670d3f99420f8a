#!/usr/bin/env bash
# /metrics behind TLS and basic auth, configured as Prometheus exporters are
# (metrics_web_config = an exporter-toolkit web config: tls_server_config
# and basic_auth_users with a bcrypt hash):
#   - a real Prometheus (Debian's `prometheus`) scrapes it over https with
#     the CA and the credentials: up == 1 and the agent's series are stored;
#   - without credentials, or with a wrong password: 401 with a Basic
#     challenge; plain http gets no metrics;
#   - the refusals are counted in migshaper_http_auth_failures_total.
# Prometheus runs in hv1's namespace with its TSDB under the test's temporary
# directory. Exit 0 pass, 1 fail, 77 if the lab, prometheus, openssl, curl or
# python3 is missing.
. "$(dirname "$0")/lib.sh"

PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
PROM_PORT=19090
PASSWORD=lab-secret-$$
if [ -z "$PROMETHEUS" ] || [ ! -x "$PROMETHEUS" ] || [ -z "$PROMTOOL" ]; then
	t_skip "prometheus or promtool is missing (Debian: apt-get install prometheus)"
fi
for c in openssl curl python3; do
	command -v $c >/dev/null 2>&1 || t_skip "$c is missing"
done
t_setup need_agent

# A self-signed certificate for 127.0.0.1 and a bcrypt hash of the password.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=migshaper-lab -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$T_TMP/server.key" -out "$T_TMP/server.crt" 2>"$T_TMP/openssl.err" ||
	t_fail "openssl cannot make a certificate: $(cat "$T_TMP/openssl.err")"
hash=$(python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10)))' "$PASSWORD")
case $hash in
'$2'*) ;;
*) t_fail "python3 cannot make a bcrypt hash ($hash)" ;;
esac
# Relative file names are relative to the web config's folder.
cat >"$T_TMP/web.yml" <<EOF
tls_server_config:
  cert_file: server.crt
  key_file: $T_TMP/server.key
basic_auth_users:
  prometheus: '$hash'
EOF

t_config "$T_TMP/agent.conf"
echo "metrics_web_config = $T_TMP/web.yml" >>"$T_TMP/agent.conf"
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"
t_wait_listen "$LAB_NS_HV1" 9465 || t_fail "the agent does not listen on 9465: $(grep metrics "$T_TMP/agent.log")"
grep -q 'metrics: serving https://127.0.0.1:9465 (basic auth)' "$T_TMP/agent.log" ||
	t_fail "the agent does not say it serves https with basic auth: $(grep metrics: "$T_TMP/agent.log")"

# status ARGS...: the HTTP status curl gets from /metrics (000: no HTTP answer).
status() {
	ip netns exec "$LAB_NS_HV1" curl -s -o "$T_TMP/body" -D "$T_TMP/head" -w '%{http_code}' \
		--max-time 5 "$@" 2>/dev/null
}
fails=0
check() {
	if "${@:2}"; then
		t_log "ok: $1"
	else
		t_log "FAIL: $1"
		fails=$((fails + 1))
	fi
}
https=https://127.0.0.1:9465/metrics
s=$(status --cacert "$T_TMP/server.crt" "$https")
check "https without credentials: 401 ($s)" test "$s" = 401
check "the 401 carries a Basic challenge" grep -qi '^WWW-Authenticate: Basic realm="migshaper"' "$T_TMP/head"
s=$(status --cacert "$T_TMP/server.crt" -u "prometheus:wrong" "$https")
check "https with a wrong password: 401 ($s)" test "$s" = 401
s=$(status --cacert "$T_TMP/server.crt" -u "nobody:$PASSWORD" "$https")
check "https with an unknown user: 401 ($s)" test "$s" = 401
s=$(status http://127.0.0.1:9465/metrics)
check "plain http gets no metrics ($s)" test "$s" != 200
s=$(status --cacert "$T_TMP/server.crt" -u "prometheus:$PASSWORD" "$https")
check "https with the credentials: 200 ($s)" test "$s" = 200
failures=$(awk '$1 == "migshaper_http_auth_failures_total" { print $2 }' "$T_TMP/body")
check "refusals counted (migshaper_http_auth_failures_total ${failures:-absent} >= 3)" \
	t_num_gt "${failures:-0}" 2

cat >"$T_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: migshaper
    scheme: https
    tls_config:
      ca_file: $T_TMP/server.crt
    basic_auth:
      username: prometheus
      password: $PASSWORD
    static_configs:
      - targets: ["127.0.0.1:9465"]
EOF
"$PROMTOOL" check config "$T_TMP/prometheus.yml" >/dev/null || t_fail "promtool rejects the test's prometheus.yml"
t_bg "$LAB_NS_HV1" "$T_TMP/prometheus.log" timeout 60 "$PROMETHEUS" \
	--config.file="$T_TMP/prometheus.yml" --storage.tsdb.path="$T_TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn
prom_query() {
	ip netns exec "$LAB_NS_HV1" curl -sfG --max-time 5 --data-urlencode "query=$1" \
		"http://127.0.0.1:$PROM_PORT/api/v1/query" | jq -r '.data.result[0].value[1] // empty'
}
_prom_up() { [ "$(prom_query 'up{job="migshaper"}')" = 1 ]; }
_prom_has_series() { [ "$(prom_query 'migshaper_tree_in_place')" = 1 ]; }
check "Prometheus scrapes over TLS with basic auth (up == 1)" t_wait_until 20 _prom_up
check "Prometheus stored the agent's series (migshaper_tree_in_place == 1)" t_wait_until 5 _prom_has_series
[ $fails -eq 0 ] || t_fail "$fails check(s) failed"
t_log "PASS"
