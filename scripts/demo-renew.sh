#!/usr/bin/env bash
# The renewal part of `make demo`: a local Pebble (Let's Encrypt's ACME test server)
# validates DNS-01 through awstest's Route 53, whose records awstest answers over DNS;
# certup renew puts the new certificate into a copy of the bundled WSO2 keystore, and
# a second run finds nothing to do. No AWS account, no public CA.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
# shellcheck source=scripts/lib-awstest.sh
. scripts/lib-awstest.sh
# shellcheck source=scripts/lib-pebble.sh
. scripts/lib-pebble.sh
[ -x "$BIN/certup" ] || go build -o "$BIN/" ./cmd/certup
[ -x "$BIN/awstest" ] || go build -o "$BIN/" ./cmd/awstest
[ -x "$BIN/jks2pem" ] || go build -o "$BIN/" ./cmd/jks2pem
pebble=$(pebble_bin)

step "awstest --hosted-zone demo.example.test   (Route 53 and its DNS on loopback)"
start_awstest 0s demo.example.test
dns=$(awk '$1 == "dns" {print $2}' "$work/awstest.out")
echo "Route 53 zone demo.example.test answered over DNS at $dns"

# Pebble's HTTPS certificate (127.0.0.1), which certup trusts through --acme-ca-bundle.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$work/pebble.key" -out "$work/pebble.crt" 2>/dev/null
port=$((20000 + RANDOM % 20000))
cat >"$work/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$port", "managementListenAddress": "127.0.0.1:$((port + 1))",
  "certificate": "$work/pebble.crt", "privateKey": "$work/pebble.key", "httpPort": 5002, "tlsPort": 5001,
  "keyAlgorithm": "ecdsa", "profiles": {"default": {"description": "90 days", "validityPeriod": 7776000}}}}
JSON
step "pebble -config pebble.json -dnsserver $dns"
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 "$pebble" -config "$work/pebble.json" -dnsserver "$dns" >"$work/pebble.log" 2>&1 &
pebble_pid=$!
trap 'kill "$pebble_pid" 2>/dev/null || true; cleanup' EXIT
# Pebble logs the directory's address before it listens: wait for the port itself.
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$work/pebble.log" >&2; exit 1; }
grep "ACME directory available" "$work/pebble.log"

cp testdata/wso2carbon.jks "$work/wso2carbon.jks"
step "jks2pem list wso2carbon.jks   (before: WSO2's self-signed CN=localhost)"
"$BIN/jks2pem" list --storepass-file testdata/wso2carbon.storepass "$work/wso2carbon.jks"

renew=(renew "$work/wso2carbon.jks" --alias wso2carbon --storepass-file testdata/wso2carbon.storepass
	--acme-directory "https://127.0.0.1:$port/dir" --acme-ca-bundle "$work/pebble.crt"
	--acme-account-key "$work/account.key" --domain wso2.demo.example.test --dns-resolver "$dns" --dns-timeout 20s)
run() {
	local rc=0
	"$BIN/certup" "$@" || rc=$?
	echo "(exit $rc)"
	case $rc in 0 | 10) ;; *) exit "$rc" ;; esac
}
step "certup ${renew[*]:0:4} … --dry-run   (WSO2's certificate has years left: not due)"
run "${renew[@]}" --dry-run
step "certup ${renew[*]:0:4} … --force   (order, DNS-01 in Route 53, validate, write the alias in place)"
run "${renew[@]}" --force
step "jks2pem list wso2carbon.jks; openssl x509 -noout -issuer -ext subjectAltName -enddate   (after: the other entries kept, the alias issued by Pebble)"
"$BIN/jks2pem" list --storepass-file testdata/wso2carbon.storepass "$work/wso2carbon.jks"
mkdir -p "$work/pem"
"$BIN/jks2pem" --out-dir "$work/pem" --alias wso2carbon --storepass-file testdata/wso2carbon.storepass "$work/wso2carbon.jks" >/dev/null
openssl x509 -noout -issuer -ext subjectAltName -enddate -in "$work/pem/wso2carbon.crt"
step "certup ${renew[*]:0:4} …   (again: the CA's renewal window is ahead, nothing written)"
run "${renew[@]}"
