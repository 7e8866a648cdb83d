#!/usr/bin/env bash
# The certup part of `make demo`: start the local AWS endpoint (awstest) with a
# classic ELB and an ALB listener, deploy the bundled keystore onto both with
# JSESSIONID stickiness, run it again (nothing to do), then list and check.
# No AWS account is used: every call goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
work=$(mktemp -d)
awstest_pid=""
cleanup() {
	if [ -n "$awstest_pid" ]; then
		kill "$awstest_pid" 2>/dev/null || true
		wait "$awstest_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "awstest --listen 127.0.0.1:0 --seed demo --propagation-delay 2s   (local IAM/ACM/ELB endpoint)"
"$BIN/awstest" --listen 127.0.0.1:0 --seed demo --propagation-delay 2s >"$work/awstest.out" 2>"$work/awstest.err" &
awstest_pid=$!
for _ in $(seq 1 100); do
	[ -s "$work/awstest.out" ] && grep -q '^placeholder-certificate ' "$work/awstest.out" && break
	sleep 0.1
done
if ! grep -q '^placeholder-certificate ' "$work/awstest.out"; then
	echo "awstest did not start:" >&2
	cat "$work/awstest.err" >&2
	exit 1
fi
cat "$work/awstest.out"
url=$(sed -n 1p "$work/awstest.out")
elb=$(awk '$1 == "elb" {print $2}' "$work/awstest.out")
listener=$(awk '$1 == "listener" {print $2}' "$work/awstest.out")

# Dummy credentials, no shared config, no instance metadata: nothing real is reached.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL="$url"

deploy=(deploy testdata/wso2carbon.jks --storepass-file testdata/wso2carbon.storepass
	--elb "$elb" --listener "$listener" --stickiness-cookie JSESSIONID)

step "certup ${deploy[*]}"
"$BIN/certup" "${deploy[@]}"

step "again: everything is in place, no change is made"
"$BIN/certup" "${deploy[@]}"

step "certup list"
"$BIN/certup" list

step "certup check --elb $elb --days 30   (for cron: exit 0 ok, 1 expiring)"
"$BIN/certup" check --elb "$elb" --days 30
