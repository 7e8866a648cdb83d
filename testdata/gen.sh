#!/usr/bin/env bash
# Regenerates every keystore fixture in testdata/ with real keytool (Java 17+) and
# openssl (3.x), and computes testdata/expected.json with the keytool+openssl
# pipeline (never with Go code from this project). See testdata/README.md.
#
# Needs: keytool, openssl 3 (with the legacy provider), jq, go (only to run
# testdata/tools/berize.go, which makes the BER PKCS#12).
# Run from anywhere: bash testdata/gen.sh   (or: make testdata)
#
# Keys and certificates are new random ones on every run; the set of files, their
# formats, aliases, passwords and structure are always the same.
set -euo pipefail

T=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # testdata/
ROOT=$(dirname "$T")

for tool in keytool openssl jq go iconv sha1sum; do
	command -v "$tool" >/dev/null || { echo "gen.sh: needs $tool on PATH" >&2; exit 1; }
done
case "$(openssl version)" in
OpenSSL\ 3.*) ;;
*) echo "gen.sh: needs OpenSSL 3.x, found: $(openssl version)" >&2; exit 1 ;;
esac

# Java must read the UTF-8 password files as UTF-8 (non-ASCII passwords).
export LC_ALL=C.UTF-8
KT_OPTS=(-J-Dfile.encoding=UTF-8 -J-Dsun.jnu.encoding=UTF-8 -J-Duser.language=en -J-Duser.country=US)

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

DAYS=7300 # leaves and self-signed keys: ~20 years, so tests do not rot

# ---------------------------------------------------------------------------
# helpers

# kt runs keytool quietly; on failure it shows what keytool said.
kt() {
	if ! keytool "${KT_OPTS[@]}" "$@" >"$W/kt.log" 2>&1; then
		echo "gen.sh: keytool $1 failed:" >&2
		cat "$W/kt.log" >&2
		exit 1
	fi
}

# ktout runs keytool and prints its standard output.
ktout() {
	if ! keytool "${KT_OPTS[@]}" "$@" 2>"$W/kt.err"; then
		echo "gen.sh: keytool $1 failed:" >&2
		cat "$W/kt.err" >&2
		exit 1
	fi
}

# pass NAME PASSWORD writes testdata/NAME: the password and one newline.
pass() { printf '%s\n' "$2" >"$T/$1"; }

# fp FILE prints the SHA-256 fingerprint of a PEM certificate: lowercase hex, no colons.
fp() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g' | tr 'A-F' 'a-f'
}

# Shared trivial password for intermediate files in $W.
printf '%s\n' 'work-pass' >"$W/work.pass"
WP=(-storepass:file "$W/work.pass" -keypass:file "$W/work.pass")

SAN="SubjectAlternativeName=dns:localhost,ip:127.0.0.1"
LEAF_EXT=(-ext "$SAN" -ext "ExtendedKeyUsage=serverAuth,clientAuth" -ext "KeyUsage:critical=digitalSignature,keyEncipherment")

# ---------------------------------------------------------------------------
echo "gen.sh: removing old fixtures from $T"
rm -f "$T"/*.jks "$T"/*.jceks "$T"/*.p12 "$T"/*.pem "$T"/*.der \
	"$T"/*.storepass "$T"/*.keypass "$T"/expected.json

# ---------------------------------------------------------------------------
echo "gen.sh: test CA (root -> intermediate), made with keytool"
CA="$W/ca.jks"
kt -genkeypair -keystore "$CA" -storetype PKCS12 "${WP[@]}" -alias root \
	-keyalg RSA -keysize 2048 -validity $((DAYS + 200)) \
	-dname "CN=Keybridge Test Root CA, O=Keybridge Test, C=US" \
	-ext "BasicConstraints:critical=ca:true" -ext "KeyUsage:critical=keyCertSign,cRLSign"
kt -genkeypair -keystore "$CA" -storetype PKCS12 "${WP[@]}" -alias inter \
	-keyalg RSA -keysize 2048 -validity $((DAYS + 100)) \
	-dname "CN=Keybridge Test Intermediate CA, O=Keybridge Test, C=US"
kt -certreq -keystore "$CA" -storepass:file "$W/work.pass" -alias inter -file "$W/inter.csr"
kt -gencert -keystore "$CA" -storepass:file "$W/work.pass" -alias root -rfc \
	-infile "$W/inter.csr" -outfile "$W/inter.pem" -validity $((DAYS + 100)) \
	-ext "BasicConstraints:critical=ca:true,pathlen:0" -ext "KeyUsage:critical=keyCertSign,cRLSign"
kt -exportcert -keystore "$CA" -storepass:file "$W/work.pass" -alias root -rfc -file "$W/root.pem"
cat "$W/inter.pem" "$W/root.pem" >"$W/inter-reply.pem"
kt -importcert -noprompt -keystore "$CA" "${WP[@]}" -alias inter -file "$W/inter-reply.pem"
cat "$W/inter.pem" "$W/root.pem" >"$W/cachain.pem" # issuers of a leaf, in order
kt -importkeystore -srckeystore "$CA" -srcstoretype PKCS12 -srcstorepass:file "$W/work.pass" \
	-srcalias inter -destkeystore "$W/inter.p12" -deststoretype PKCS12 \
	-deststorepass:file "$W/work.pass" -noprompt
openssl pkcs12 -in "$W/inter.p12" -passin file:"$W/work.pass" -nocerts -nodes |
	openssl pkey -out "$W/inter.key"

ROOT_FP=$(fp "$W/root.pem")
INTER_FP=$(fp "$W/inter.pem")

# Unrelated self-signed CAs, used as trusted-certificate entries.
for n in otherca partnerca; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/$n.key" -out "$W/$n.pem" \
		-days "$DAYS" -subj "/C=US/O=Keybridge Test/CN=Keybridge Test ${n}" \
		-addext "basicConstraints=critical,CA:true" 2>/dev/null
done

# ca_sign_keytool STORE STORETYPE ALIAS [keytool -gencert options...]
# Has the intermediate CA sign the entry's key (certreq -> gencert) and installs the
# CA reply (leaf, intermediate, root) in the entry with keytool -importcert.
ca_sign_keytool() {
	local store=$1 stype=$2 alias=$3 spf=$4 kpf=$5
	shift 5
	kt -certreq -keystore "$store" -storetype "$stype" -storepass:file "$spf" -keypass:file "$kpf" \
		-alias "$alias" -file "$W/leaf.csr"
	kt -gencert -keystore "$CA" -storepass:file "$W/work.pass" -alias inter -rfc \
		-infile "$W/leaf.csr" -outfile "$W/leaf-signed.pem" "$@"
	cat "$W/leaf-signed.pem" "$W/inter.pem" "$W/root.pem" >"$W/reply.pem"
	kt -importcert -noprompt -keystore "$store" -storetype "$stype" -storepass:file "$spf" \
		-keypass:file "$kpf" -alias "$alias" -file "$W/reply.pem"
}

# ---------------------------------------------------------------------------
echo "gen.sh: JKS fixtures"

# genkey FILE STORETYPE ALIAS STOREPASSFILE KEYPASSFILE DNAME KEYALG [more keytool options]
genkey() {
	local file=$1 stype=$2 alias=$3 spf=$4 kpf=$5 dname=$6 alg=$7
	shift 7
	kt -genkeypair -keystore "$T/$file" -storetype "$stype" -storepass:file "$spf" -keypass:file "$kpf" \
		-alias "$alias" -dname "$dname" -keyalg "$alg" -validity "$DAYS" "$@"
}

# importtrusted FILE STORETYPE STOREPASSFILE ALIAS PEM
importtrusted() {
	kt -importcert -noprompt -keystore "$T/$1" -storetype "$2" -storepass:file "$3" -alias "$4" -file "$5"
}

pass rsa2048.storepass 'changeit'
genkey rsa2048.jks JKS mykey "$T/rsa2048.storepass" "$T/rsa2048.storepass" \
	"CN=rsa2048.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048 -ext "$SAN"

pass rsa4096.storepass 'changeit'
genkey rsa4096.jks JKS mykey "$T/rsa4096.storepass" "$T/rsa4096.storepass" \
	"CN=rsa4096.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 4096 -ext "$SAN"

pass ec256.storepass 'changeit'
genkey ec256.jks JKS mykey "$T/ec256.storepass" "$T/ec256.storepass" \
	"CN=ec256.keybridge.test, O=Keybridge Test, C=US" EC -groupname secp256r1 -ext "$SAN"

pass keypass.storepass 'store-password'
pass keypass.keypass 'a-different-key-password'
genkey keypass.jks JKS mykey "$T/keypass.storepass" "$T/keypass.keypass" \
	"CN=keypass.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048 -ext "$SAN"

pass chain.storepass 'changeit'
genkey chain.jks JKS server "$T/chain.storepass" "$T/chain.storepass" \
	"CN=localhost, OU=Chain, O=Keybridge Test, C=US" RSA -keysize 2048
ca_sign_keytool "$T/chain.jks" JKS server "$T/chain.storepass" "$T/chain.storepass" \
	-validity "$DAYS" "${LEAF_EXT[@]}"

pass multi.storepass 'changeit'
genkey multi.jks JKS alpha "$T/multi.storepass" "$T/multi.storepass" \
	"CN=alpha.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048
ca_sign_keytool "$T/multi.jks" JKS alpha "$T/multi.storepass" "$T/multi.storepass" \
	-validity "$DAYS" -ext "SubjectAlternativeName=dns:alpha.keybridge.test" -ext "ExtendedKeyUsage=serverAuth"
genkey multi.jks JKS beta "$T/multi.storepass" "$T/multi.storepass" \
	"CN=beta.keybridge.test, O=Keybridge Test, C=US" EC -groupname secp256r1 \
	-ext "SubjectAlternativeName=dns:beta.keybridge.test"
importtrusted multi.jks JKS "$T/multi.storepass" otherca "$W/otherca.pem"
importtrusted multi.jks JKS "$T/multi.storepass" partnerca "$W/partnerca.pem"

# Non-ASCII passwords: Latin-1 range and beyond U+00FF (keytool reads the UTF-8 files).
pass nonascii.storepass 'pässwörd'
genkey nonascii.jks JKS mykey "$T/nonascii.storepass" "$T/nonascii.storepass" \
	"CN=nonascii.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048
pass nonascii-cyrillic.storepass 'пароль123'
genkey nonascii-cyrillic.jks JKS mykey "$T/nonascii-cyrillic.storepass" "$T/nonascii-cyrillic.storepass" \
	"CN=nonascii-cyrillic.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048

pass jceks.storepass 'changeit'
genkey jceks.jceks JCEKS mykey "$T/jceks.storepass" "$T/jceks.storepass" \
	"CN=jceks.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048 -ext "$SAN"
importtrusted jceks.jceks JCEKS "$T/jceks.storepass" otherca "$W/otherca.pem"
# A JCEKS with secret-key entries (Java-serialized SealedObjects, no length prefix)
# beside a key and a trusted certificate: readers must walk past them.
pass jceks-secret.storepass 'changeit'
kt -genseckey -keystore "$T/jceks-secret.jceks" -storetype JCEKS -storepass:file "$T/jceks-secret.storepass" \
	-keypass:file "$T/jceks-secret.storepass" -alias aeskey -keyalg AES -keysize 256
genkey jceks-secret.jceks JCEKS mykey "$T/jceks-secret.storepass" "$T/jceks-secret.storepass" \
	"CN=jceks-secret.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048
kt -genseckey -keystore "$T/jceks-secret.jceks" -storetype JCEKS -storepass:file "$T/jceks-secret.storepass" \
	-keypass:file "$T/jceks-secret.storepass" -alias hmackey -keyalg HmacSHA256 -keysize 256
importtrusted jceks-secret.jceks JCEKS "$T/jceks-secret.storepass" otherca "$W/otherca.pem"

# WSO2-style demo keystores.
pass wso2carbon.storepass 'wso2carbon'
genkey wso2carbon.jks JKS wso2carbon "$T/wso2carbon.storepass" "$T/wso2carbon.storepass" \
	"CN=localhost, O=WSO2, L=Mountain View, ST=CA, C=US" RSA -keysize 2048 -ext "$SAN"
importtrusted wso2carbon.jks JKS "$T/wso2carbon.storepass" otherca "$W/otherca.pem"
importtrusted wso2carbon.jks JKS "$T/wso2carbon.storepass" partnerca "$W/partnerca.pem"
pass ecdsa-demo.storepass 'wso2carbon'
genkey ecdsa-demo.jks JKS wso2carbon "$T/ecdsa-demo.storepass" "$T/ecdsa-demo.storepass" \
	"CN=localhost, O=WSO2, L=Mountain View, ST=CA, C=US" EC -groupname secp256r1 -ext "$SAN"

# Expired leaf (2020) and not-yet-valid leaf (starts in 10 years), CA-signed.
pass expired.storepass 'changeit'
genkey expired.jks JKS server "$T/expired.storepass" "$T/expired.storepass" \
	"CN=expired.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048
ca_sign_keytool "$T/expired.jks" JKS server "$T/expired.storepass" "$T/expired.storepass" \
	-startdate "2020/01/01 00:00:00" -validity 366 "${LEAF_EXT[@]}"
pass notyetvalid.storepass 'changeit'
genkey notyetvalid.jks JKS server "$T/notyetvalid.storepass" "$T/notyetvalid.storepass" \
	"CN=notyetvalid.keybridge.test, O=Keybridge Test, C=US" RSA -keysize 2048
ca_sign_keytool "$T/notyetvalid.jks" JKS server "$T/notyetvalid.storepass" "$T/notyetvalid.storepass" \
	-startdate "+10y" -validity 365 "${LEAF_EXT[@]}"

# ---------------------------------------------------------------------------
echo "gen.sh: PKCS#12 fixtures"

# keytool 17 defaults (PBES2/AES-256 + HMAC-SHA256 MAC): the 3-level chain entry of
# chain.jks plus one trusted certificate.
pass keytool.storepass 'changeit'
kt -importkeystore -srckeystore "$T/chain.jks" -srcstoretype JKS -srcstorepass:file "$T/chain.storepass" \
	-srcalias server -srckeypass:file "$T/chain.storepass" \
	-destkeystore "$T/keytool.p12" -deststoretype PKCS12 -deststorepass:file "$T/keytool.storepass" -noprompt
importtrusted keytool.p12 PKCS12 "$T/keytool.storepass" otherca "$W/otherca.pem"

# An openssl-made leaf, signed by the same intermediate.
cat >"$W/leaf.ext" <<'EOF'
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/oleaf.key" 2>/dev/null
openssl req -new -key "$W/oleaf.key" -subj "/C=US/O=Keybridge Test/OU=OpenSSL/CN=localhost" -out "$W/oleaf.csr"
openssl x509 -req -in "$W/oleaf.csr" -CA "$W/inter.pem" -CAkey "$W/inter.key" \
	-set_serial "0x$(openssl rand -hex 8)" -days "$DAYS" -sha256 \
	-extfile "$W/leaf.ext" -out "$W/oleaf.pem" 2>/dev/null

pass openssl.storepass 'changeit'
openssl pkcs12 -export -inkey "$W/oleaf.key" -in "$W/oleaf.pem" -certfile "$W/cachain.pem" \
	-name server -passout file:"$T/openssl.storepass" -out "$T/openssl.p12"

pass openssl-legacy.storepass 'changeit'
openssl pkcs12 -export -legacy -inkey "$W/oleaf.key" -in "$W/oleaf.pem" -certfile "$W/cachain.pem" \
	-name server -passout file:"$T/openssl-legacy.storepass" -out "$T/openssl-legacy.p12"

pass nomac.storepass 'changeit'
openssl pkcs12 -export -nomac -inkey "$W/oleaf.key" -in "$W/oleaf.pem" -certfile "$W/cachain.pem" \
	-name server -passout file:"$T/nomac.storepass" -out "$T/nomac.p12"

# Two keys and two trusted certificates, aliases as friendlyName (keytool defaults).
pass multi-p12.storepass 'changeit'
kt -importkeystore -srckeystore "$T/multi.jks" -srcstoretype JKS -srcstorepass:file "$T/multi.storepass" \
	-destkeystore "$T/multi.p12" -deststoretype PKCS12 -deststorepass:file "$T/multi-p12.storepass" -noprompt

# BER: openssl.p12 re-encoded with indefinite lengths (MAC still valid).
pass ber.storepass 'changeit'
(cd "$ROOT" && go run ./testdata/tools/berize.go "$T/openssl.p12" "$T/ber.p12")

# ---------------------------------------------------------------------------
echo "gen.sh: PEM and DER fixtures"

# bundle.pem: scrambled order (intermediate, PKCS#8 key, root, leaf).
openssl pkey -in "$W/oleaf.key" -out "$W/oleaf-pkcs8.pem"
cat "$W/inter.pem" "$W/oleaf-pkcs8.pem" "$W/root.pem" "$W/oleaf.pem" >"$T/bundle.pem"
# bundle-pkcs1.pem: root, leaf, PKCS#1 key, intermediate.
openssl rsa -in "$W/oleaf.key" -traditional -out "$W/oleaf-pkcs1.pem" 2>/dev/null
cat "$W/root.pem" "$W/oleaf.pem" "$W/oleaf-pkcs1.pem" "$W/inter.pem" >"$T/bundle-pkcs1.pem"
# ec-sec1.pem: SEC1 EC key and its self-signed certificate.
openssl ecparam -name prime256v1 -genkey -noout -out "$W/ec.key"
openssl req -x509 -key "$W/ec.key" -subj "/C=US/O=Keybridge Test/CN=ec-sec1.keybridge.test" \
	-days "$DAYS" -addext "subjectAltName=DNS:localhost" -out "$W/ec.pem"
cat "$W/ec.key" "$W/ec.pem" >"$T/ec-sec1.pem"
# encrypted-pkcs8.pem: PBES2/AES-256-CBC encrypted PKCS#8 key, leaf, chain.
pass encrypted-pkcs8.storepass 'changeit'
openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$W/oleaf.key" -passout file:"$T/encrypted-pkcs8.storepass" \
	-out "$W/oleaf-enc.pem"
cat "$W/oleaf-enc.pem" "$W/oleaf.pem" "$W/cachain.pem" >"$T/encrypted-pkcs8.pem"
# leaf.der: the openssl leaf as one DER certificate.
openssl x509 -in "$W/oleaf.pem" -outform DER -out "$T/leaf.der"
# mismatch.pem: a private key and a certificate that does not belong to it.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/other.key" 2>/dev/null
cat "$W/other.key" "$W/oleaf.pem" >"$T/mismatch.pem"

# ---------------------------------------------------------------------------
echo "gen.sh: checking every fixture with keytool and openssl"

check_list() { # FILE STORETYPE STOREPASSFILE
	ktout -list -v -keystore "$T/$1" -storetype "$2" -storepass:file "$T/$3" >/dev/null
}
for f in rsa2048 rsa4096 ec256 keypass chain multi nonascii nonascii-cyrillic wso2carbon ecdsa-demo expired notyetvalid; do
	check_list "$f.jks" JKS "$f.storepass"
done
check_list jceks.jceks JCEKS jceks.storepass
check_list jceks-secret.jceks JCEKS jceks-secret.storepass
for f in keytool openssl openssl-legacy nomac; do
	check_list "$f.p12" PKCS12 "$f.storepass"
done
check_list multi.p12 PKCS12 multi-p12.storepass

# Non-ASCII passwords: keytool must also open the store with the password from the
# environment (decoded by a different path than the file), and the JKS integrity hash,
# SHA-1(password as UTF-16BE || "Mighty Aphrodite" || store), recomputed here with
# iconv+sha1sum, must match: this proves the store uses exactly the Unicode password
# of the UTF-8 file (Java did not read it as Latin-1).
for f in nonascii nonascii-cyrillic; do
	NONASCII_PASS=$(head -n1 "$T/$f.storepass")
	NONASCII_PASS=$NONASCII_PASS ktout -list -keystore "$T/$f.jks" -storetype JKS \
		-storepass:env NONASCII_PASS >/dev/null
	want=$(tail -c 20 "$T/$f.jks" | od -An -tx1 | tr -d ' \n')
	got=$({ printf '%s' "$NONASCII_PASS" | iconv -f UTF-8 -t UTF-16BE; printf 'Mighty Aphrodite'; head -c -20 "$T/$f.jks"; } |
		sha1sum | cut -d' ' -f1)
	[ "$want" = "$got" ] || { echo "gen.sh: $f.jks is not protected by the UTF-8 password of $f.storepass" >&2; exit 1; }
	if keytool "${KT_OPTS[@]}" -list -keystore "$T/$f.jks" -storetype JKS -storepass:file "$W/work.pass" >/dev/null 2>&1; then
		echo "gen.sh: $f.jks opens with a wrong password" >&2
		exit 1
	fi
done

p12info() { # FILE STOREPASSFILE [openssl options]
	local f=$1 p=$2
	shift 2
	openssl pkcs12 -in "$T/$f" -passin file:"$T/$p" -info -noout "$@" 2>&1
}
info=$(p12info keytool.p12 keytool.storepass)
grep -q 'MAC: sha256' <<<"$info" && grep -q 'AES-256-CBC' <<<"$info" ||
	{ echo "gen.sh: keytool.p12 is not PBES2/AES-256 with an HMAC-SHA256 MAC:" >&2; echo "$info" >&2; exit 1; }
info=$(p12info openssl-legacy.p12 openssl-legacy.storepass -legacy)
grep -q 'pbeWithSHA1And40BitRC2-CBC' <<<"$info" && grep -q 'pbeWithSHA1And3-KeyTripleDES-CBC' <<<"$info" ||
	{ echo "gen.sh: openssl-legacy.p12 is not RC2/3DES:" >&2; echo "$info" >&2; exit 1; }
info=$(p12info nomac.p12 nomac.storepass)
if grep -q '^MAC:' <<<"$info"; then echo "gen.sh: nomac.p12 has a MAC" >&2; exit 1; fi
p12info openssl.p12 openssl.storepass >/dev/null
p12info multi.p12 multi-p12.storepass >/dev/null
# ber.p12 must be BER (indefinite lengths) and still readable by OpenSSL, MAC included.
asn1=$(openssl asn1parse -inform DER -in "$T/ber.p12")
[[ "$(head -n1 <<<"$asn1")" == *"l=inf"* ]] ||
	{ echo "gen.sh: ber.p12 is not indefinite-length BER" >&2; exit 1; }
info=$(p12info ber.p12 ber.storepass) ||
	{ echo "gen.sh: openssl cannot read ber.p12:" >&2; echo "$info" >&2; exit 1; }
grep -q '^MAC:' <<<"$info" || { echo "gen.sh: ber.p12 has no MAC" >&2; exit 1; }
openssl pkcs12 -in "$T/ber.p12" -passin file:"$T/ber.storepass" -nodes 2>/dev/null | openssl pkey -noout
# PEM and DER.
openssl pkey -in "$T/bundle.pem" -noout
grep -q 'BEGIN PRIVATE KEY' "$T/bundle.pem"
grep -q 'BEGIN RSA PRIVATE KEY' "$T/bundle-pkcs1.pem"
grep -q 'BEGIN EC PRIVATE KEY' "$T/ec-sec1.pem"
grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$T/encrypted-pkcs8.pem"
openssl pkey -in "$T/encrypted-pkcs8.pem" -passin file:"$T/encrypted-pkcs8.storepass" -noout
openssl x509 -in "$T/leaf.der" -inform DER -noout
openssl verify -CAfile "$W/root.pem" -untrusted "$W/inter.pem" "$W/oleaf.pem" >/dev/null
key_spki() { openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -d' ' -f1; }
cert_spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
[ "$(key_spki "$W/other.key")" != "$(cert_spki "$W/oleaf.pem")" ] ||
	{ echo "gen.sh: mismatch.pem key matches its certificate" >&2; exit 1; }

# ---------------------------------------------------------------------------
echo "gen.sh: computing expected.json with the keytool+openssl pipeline"

: >"$W/records.jsonl"

# record FILE FORMAT ALIAS STOREPASSFILE KEYPASSFILE KEYPEM LEAFPEM ENTRIES ALIASESJSON EXPECT CHAINPEM...
# KEYPEM may be "" (certificate only). All fingerprints: SHA-256, lowercase hex, no colons.
record() {
	local file=$1 format=$2 alias=$3 spf=$4 kpf=$5 key=$6 leaf=$7 entries=$8 aliases=$9 expect=${10}
	shift 10
	local chain=() c
	for c in "$@"; do chain+=("$(fp "$c")"); done
	local spki key_type key_bits has_key=true
	if [ -n "$key" ]; then
		openssl pkey -in "$key" -pubout -outform DER -out "$W/spki.der"
	else
		has_key=false
		openssl x509 -in "$leaf" -noout -pubkey | openssl pkey -pubin -outform DER -out "$W/spki.der"
	fi
	spki=$(sha256sum "$W/spki.der" | cut -d' ' -f1)
	case "$(openssl asn1parse -inform DER -in "$W/spki.der")" in
	*rsaEncryption*) key_type=RSA ;;
	*id-ecPublicKey*) key_type=EC ;;
	*) echo "gen.sh: unknown key type in $file" >&2; exit 1 ;;
	esac
	key_bits=$(openssl pkey -pubin -inform DER -in "$W/spki.der" -noout -text | sed -n '1s/.*(\([0-9]*\) bit.*/\1/p')
	local subject issuer nb na
	subject=$(openssl x509 -in "$leaf" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
	issuer=$(openssl x509 -in "$leaf" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
	nb=$(date -u -d "$(openssl x509 -in "$leaf" -noout -startdate | sed 's/^notBefore=//')" +%Y-%m-%dT%H:%M:%SZ)
	na=$(date -u -d "$(openssl x509 -in "$leaf" -noout -enddate | sed 's/^notAfter=//')" +%Y-%m-%dT%H:%M:%SZ)
	local chainjson
	if [ ${#chain[@]} -eq 0 ]; then chainjson='[]'; else chainjson=$(printf '%s\n' "${chain[@]}" | jq -R . | jq -s -c .); fi
	jq -n -c \
		--arg file "$file" --arg format "$format" --arg alias "$alias" \
		--arg storepass_file "$spf" --arg keypass_file "$kpf" \
		--argjson private_key "$has_key" --arg key_type "$key_type" --argjson key_bits "$key_bits" \
		--arg leaf_sha256 "$(fp "$leaf")" --arg pubkey_sha256 "$spki" \
		--argjson chain_sha256 "$chainjson" \
		--arg subject "$subject" --arg issuer "$issuer" --arg not_before "$nb" --arg not_after "$na" \
		--argjson entries "$entries" --argjson aliases "$aliases" --arg expect_error "$expect" \
		'{file: $file, format: $format, alias: $alias, storepass_file: $storepass_file,
		  keypass_file: $keypass_file, private_key: $private_key, key_type: $key_type,
		  key_bits: $key_bits, leaf_sha256: $leaf_sha256, pubkey_sha256: $pubkey_sha256,
		  chain_sha256: $chain_sha256, subject: $subject, issuer: $issuer,
		  not_before: $not_before, not_after: $not_after, entries: $entries,
		  aliases: $aliases, expect_error: $expect_error}' >>"$W/records.jsonl"
}

# record_store FILE FORMAT STORETYPE ALIAS STOREPASSFILE KEYPASSFILE [EXPECT]
# The pipeline the project replaces: keytool -importkeystore (one alias) -> PKCS12 ->
# openssl pkcs12 -nocerts -nodes -> key; keytool -list -rfc -> leaf and chain.
record_store() {
	local file=$1 format=$2 stype=$3 alias=$4 spf=$5 kpf=$6 expect=${7:-}
	local list entries aliases
	list=$(ktout -list -keystore "$T/$file" -storetype "$stype" -storepass:file "$T/$spf")
	entries=$(sed -n 's/^Your keystore contains \([0-9]*\) entr.*/\1/p' <<<"$list")
	aliases=$(grep -E ', (PrivateKeyEntry|trustedCertEntry|SecretKeyEntry), *$' <<<"$list" |
		cut -d, -f1 | sort | jq -R . | jq -s -c .)
	rm -f "$W/one.p12" "$W"/cert-*.pem
	kt -importkeystore -srckeystore "$T/$file" -srcstoretype "$stype" -srcstorepass:file "$T/$spf" \
		-srcalias "$alias" -srckeypass:file "$T/$kpf" \
		-destkeystore "$W/one.p12" -deststoretype PKCS12 -deststorepass:file "$W/work.pass" -noprompt
	openssl pkcs12 -in "$W/one.p12" -passin file:"$W/work.pass" -nocerts -nodes |
		openssl pkey -out "$W/one.key"
	ktout -list -rfc -keystore "$T/$file" -storetype "$stype" -storepass:file "$T/$spf" -alias "$alias" |
		awk -v dir="$W" '/-----BEGIN CERTIFICATE-----/ {n++; out=sprintf("%s/cert-%d.pem", dir, n)}
			out {print > out} /-----END CERTIFICATE-----/ {out=""}'
	local certs=("$W"/cert-*.pem)
	[ -f "${certs[0]}" ] || { echo "gen.sh: no certificates for $file alias $alias" >&2; exit 1; }
	# the leaf must belong to the key
	[ "$(key_spki "$W/one.key")" = "$(cert_spki "$W/cert-1.pem")" ] ||
		{ echo "gen.sh: $file alias $alias: key does not match leaf" >&2; exit 1; }
	local chain=() i
	for ((i = 2; i <= ${#certs[@]}; i++)); do chain+=("$W/cert-$i.pem"); done
	record "$file" "$format" "$alias" "$spf" "$kpf" "$W/one.key" "$W/cert-1.pem" "$entries" "$aliases" "$expect" ${chain[@]+"${chain[@]}"}
}

record_store rsa2048.jks JKS JKS mykey rsa2048.storepass rsa2048.storepass
record_store rsa4096.jks JKS JKS mykey rsa4096.storepass rsa4096.storepass
record_store ec256.jks JKS JKS mykey ec256.storepass ec256.storepass
record_store keypass.jks JKS JKS mykey keypass.storepass keypass.keypass
record_store chain.jks JKS JKS server chain.storepass chain.storepass
record_store multi.jks JKS JKS alpha multi.storepass multi.storepass
record_store multi.jks JKS JKS beta multi.storepass multi.storepass
record_store nonascii.jks JKS JKS mykey nonascii.storepass nonascii.storepass
record_store nonascii-cyrillic.jks JKS JKS mykey nonascii-cyrillic.storepass nonascii-cyrillic.storepass
record_store jceks.jceks JCEKS JCEKS mykey jceks.storepass jceks.storepass
record_store jceks-secret.jceks JCEKS JCEKS mykey jceks-secret.storepass jceks-secret.storepass
record_store keytool.p12 PKCS12 PKCS12 server keytool.storepass keytool.storepass
record_store openssl.p12 PKCS12 PKCS12 server openssl.storepass openssl.storepass
record_store openssl-legacy.p12 PKCS12 PKCS12 server openssl-legacy.storepass openssl-legacy.storepass
record_store nomac.p12 PKCS12 PKCS12 server nomac.storepass nomac.storepass
record_store multi.p12 PKCS12 PKCS12 alpha multi-p12.storepass multi-p12.storepass
record_store multi.p12 PKCS12 PKCS12 beta multi-p12.storepass multi-p12.storepass
record_store wso2carbon.jks JKS JKS wso2carbon wso2carbon.storepass wso2carbon.storepass
record_store ecdsa-demo.jks JKS JKS wso2carbon ecdsa-demo.storepass ecdsa-demo.storepass
record_store expired.jks JKS JKS server expired.storepass expired.storepass
record_store notyetvalid.jks JKS JKS server notyetvalid.storepass notyetvalid.storepass

# ber.p12: our reader refuses it (expect_error "ber"); keytool and OpenSSL read it.
record_store ber.p12 PKCS12 PKCS12 server ber.storepass ber.storepass ber

# PEM and DER: no aliases and no keytool entry count (entries 0, alias "").
openssl pkey -in "$T/bundle.pem" -out "$W/k.pem"
record bundle.pem PEM "" "" "" "$W/k.pem" "$W/oleaf.pem" 0 '[]' "" "$W/inter.pem" "$W/root.pem"
openssl pkey -in "$T/bundle-pkcs1.pem" -out "$W/k.pem"
record bundle-pkcs1.pem PEM "" "" "" "$W/k.pem" "$W/oleaf.pem" 0 '[]' "" "$W/inter.pem" "$W/root.pem"
openssl pkey -in "$T/ec-sec1.pem" -out "$W/k.pem"
record ec-sec1.pem PEM "" "" "" "$W/k.pem" "$W/ec.pem" 0 '[]' ""
openssl pkey -in "$T/encrypted-pkcs8.pem" -passin file:"$T/encrypted-pkcs8.storepass" -out "$W/k.pem"
record encrypted-pkcs8.pem PEM "" encrypted-pkcs8.storepass encrypted-pkcs8.storepass "$W/k.pem" "$W/oleaf.pem" 0 '[]' "" \
	"$W/inter.pem" "$W/root.pem"
openssl x509 -in "$T/leaf.der" -inform DER -out "$W/c.pem"
record leaf.der DER "" "" "" "" "$W/c.pem" 0 '[]' ""
openssl pkey -in "$T/mismatch.pem" -out "$W/k.pem"
record mismatch.pem PEM "" "" "" "$W/k.pem" "$W/oleaf.pem" 0 '[]' key_mismatch

# Sanity: CA-signed entries carry [intermediate, root] as their chain.
jq -e --arg i "$INTER_FP" --arg r "$ROOT_FP" '
	[.[] | select(.file | test("^(chain|keytool|openssl|openssl-legacy|nomac|ber|bundle|bundle-pkcs1|encrypted-pkcs8|expired|notyetvalid)\\."))
	     | .chain_sha256 == [$i, $r]] | all' <(jq -s . "$W/records.jsonl") >/dev/null ||
	{ echo "gen.sh: a CA-signed fixture does not carry the expected chain" >&2; exit 1; }

jq -s . "$W/records.jsonl" >"$T/expected.json"
# openssl writes its PKCS#12 files 0600; fixtures are all plain 0644 files.
chmod 0644 "$T"/*.jks "$T"/*.jceks "$T"/*.p12 "$T"/*.pem "$T"/*.der "$T"/*.storepass "$T"/*.keypass "$T/expected.json"

echo "gen.sh: done: $(jq length "$T/expected.json") expected entries; $(du -ch "$T"/*.jks "$T"/*.jceks "$T"/*.p12 "$T"/*.pem "$T"/*.der | tail -n1 | cut -f1) of fixtures"
