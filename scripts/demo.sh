#!/usr/bin/env bash
# make demo: keybridge's main job end to end on the bundled WSO2-style keystore
# (testdata/wso2carbon.jks, alias and password wso2carbon) — no AWS account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "jks2pem list testdata/wso2carbon.jks"
"$BIN/jks2pem" list --storepass-file testdata/wso2carbon.storepass testdata/wso2carbon.jks

step "jks2pem --out-dir $work testdata/wso2carbon.jks   (replaces keytool -importkeystore | openssl pkcs12 | openssl rsa | keytool -export)"
time "$BIN/jks2pem" --out-dir "$work" --storepass-file testdata/wso2carbon.storepass testdata/wso2carbon.jks
ls -l "$work"

step "openssl x509 -noout -subject -enddate -in wso2carbon.crt"
openssl x509 -noout -subject -enddate -in "$work/wso2carbon.crt"
step "openssl rsa -check -noout -in wso2carbon.key"
openssl rsa -check -noout -in "$work/wso2carbon.key"
head -1 "$work/wso2carbon.key"

step "a CA-signed keystore: key, certificate and the chain, root last"
"$BIN/jks2pem" --out-dir "$work" --storepass-file testdata/chain.storepass testdata/chain.jks
awk '/BEGIN CERT/{buf=""} {buf=buf $0 "\n"} /END CERT/{last=buf} END{printf "%s", last}' "$work/server.chain.pem" >"$work/root.pem"
step "openssl verify -CAfile root.pem -untrusted server.chain.pem server.crt"
openssl verify -CAfile "$work/root.pem" -untrusted "$work/server.chain.pem" "$work/server.crt"

for part in scripts/demo-certup.sh scripts/demo-rotate.sh scripts/demo-renew.sh scripts/demo-jksproxy.sh; do
	if [ -x "$part" ] || [ -f "$part" ]; then
		BIN="$BIN" bash "$part"
	fi
done
printf '\ndemo done\n'
