#!/usr/bin/env bash
# The documented keytool+openssl procedure that jks2pem replaces, one conversion:
#   pipeline.sh KEYSTORE ALIAS STOREPASS_FILE OUT_DIR
# OpenSSL 3 needs -traditional for the "BEGIN RSA PRIVATE KEY" the AWS console shows.
# A PKCS#12 keystore skips the keytool import step (and, having no MAC in WSO2's case,
# needs -nomacver).
set -euo pipefail
ks=$1 alias=$2 pass=$3 out=$4
rm -f "$out"/tmp.p12 "$out"/key.pem "$out"/key.rsa "$out"/cert.pem
case "$ks" in
*.p12) p12=$ks; nomac=(-nomacver) ;;
*)
	keytool -importkeystore -srckeystore "$ks" -srcstorepass:file "$pass" -srcalias "$alias" \
		-destkeystore "$out/tmp.p12" -deststoretype PKCS12 -deststorepass:file "$pass" -destkeypass:file "$pass" -noprompt >/dev/null 2>&1
	p12=$out/tmp.p12 nomac=()
	;;
esac
openssl pkcs12 -in "$p12" -nocerts -nodes "${nomac[@]}" -passin "file:$pass" -out "$out/key.pem" 2>/dev/null
openssl rsa -in "$out/key.pem" -traditional -out "$out/key.rsa" 2>/dev/null
keytool -exportcert -rfc -alias "$alias" -keystore "$ks" -storepass:file "$pass" -file "$out/cert.pem" >/dev/null 2>&1
test -s "$out/key.rsa" && test -s "$out/cert.pem"
