#!/usr/bin/env bash
# The jksproxy part of `make demo`: two demo application servers, jksproxy serving
# testdata/wso2carbon.jks in front of them, the certificate it serves, a sticky
# session, and a failover. Everything listens on 127.0.0.1 ports the programs pick;
# everything started here is stopped by PID at the end (also on error or Ctrl-C).
# Needs: curl, openssl. Uses $BIN/jksproxy if present (make build), else builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
work=$(mktemp -d)
pids=()

cleanup() {
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

jksproxy=$BIN/jksproxy
if [ ! -x "$jksproxy" ]; then
	go build -o "$work/jksproxy" ./cmd/jksproxy
	jksproxy=$work/jksproxy
fi

# addr LOG PATTERN: wait up to 10 s for a "listening" log line and print its address.
addr() {
	local i
	for i in $(seq 100); do
		if a=$(grep -m1 "$2" "$1" | sed -n 's/.* addr=\([^ ]*\).*/\1/p') && [ -n "$a" ]; then
			echo "$a"
			return
		fi
		sleep 0.1
	done
	echo "demo-jksproxy: no '$2' in $1:" >&2
	cat "$1" >&2
	exit 1
}

step "two demo application servers (jksproxy demo-backend: sessions in a JSESSIONID cookie, like Tomcat)"
"$jksproxy" demo-backend --listen 127.0.0.1:0 --name app1 2>"$work/app1.log" &
app1_pid=$!
pids+=("$app1_pid")
"$jksproxy" demo-backend --listen 127.0.0.1:0 --name app2 2>"$work/app2.log" &
app2_pid=$!
pids+=("$app2_pid")
app1=$(addr "$work/app1.log" "demo backend listening")
app2=$(addr "$work/app2.log" "demo backend listening")
echo "app1 on $app1 (pid $app1_pid), app2 on $app2 (pid $app2_pid)"

step "jksproxy --keystore testdata/wso2carbon.jks --storepass-file testdata/wso2carbon.storepass --backend http://$app1 --backend http://$app2"
"$jksproxy" --keystore testdata/wso2carbon.jks --storepass-file testdata/wso2carbon.storepass \
	--listen-https 127.0.0.1:0 --listen-http 127.0.0.1:0 --admin 127.0.0.1:0 \
	--backend "http://$app1" --backend "http://$app2" \
	--health-check-path /health --health-interval 500ms --health-rise 1 --health-fall 1 \
	--access-log=false 2>"$work/jksproxy.log" &
proxy_pid=$!
pids+=("$proxy_pid")
https=$(addr "$work/jksproxy.log" "msg=listening listener=https")
http=$(addr "$work/jksproxy.log" "msg=listening listener=http ")
admin=$(addr "$work/jksproxy.log" "msg=listening listener=admin")
echo "https on $https, http on $http, admin on $admin (pid $proxy_pid)"

step "the certificate served: openssl s_client -connect $https | openssl x509 -noout -subject -enddate"
openssl s_client -connect "$https" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject -enddate
echo "protocol: $(curl -sk --http2 -o /dev/null -w 'HTTP/%{http_version}' "https://$https/"), TLS 1.1: $(curl -sk --tls-max 1.1 -o /dev/null "https://$https/" 2>/dev/null && echo accepted || echo refused)"

step "a sticky session: curl with a cookie jar, five requests"
jar=$work/cookies.txt
for i in 1 2 3 4 5; do
	curl -sk -c "$jar" -b "$jar" "https://$https/"
done
grep -E 'JSESSIONID|KBSRV' "$jar" | awk '{print "cookie " $6 "=" $7}'
stuck=$(curl -sk -c "$jar" -b "$jar" "https://$https/" | sed -n 's/^backend=\([^ ]*\).*/\1/p')
echo "the session is on $stuck"

if [ "$stuck" = app1 ]; then victim_pid=$app1_pid; else victim_pid=$app2_pid; fi
step "failover: kill $stuck (pid $victim_pid); the session moves, /healthz stays 200"
kill -TERM "$victim_pid"
wait "$victim_pid" 2>/dev/null || true
for i in 1 2 3 4 5; do
	curl -sk -c "$jar" -b "$jar" "https://$https/"
done
echo "GET /healthz: $(curl -s -o /dev/null -w '%{http_code}' "http://$http/healthz")"
sleep 0.6 # one health-check interval
curl -s "http://$admin/metrics" | grep -E '^jksproxy_(backend_up|requests_total|certificate_expiry_seconds)'

step "stop jksproxy (SIGTERM: /healthz says 503, in-flight requests finish)"
kill -TERM "$proxy_pid"
wait "$proxy_pid" 2>/dev/null || true
grep -E 'msg=(stopped|"closing listeners)' "$work/jksproxy.log" || tail -2 "$work/jksproxy.log"
