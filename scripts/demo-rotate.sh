#!/usr/bin/env bash
# The rotation part of `make demo`: against the local AWS endpoint (awstest, with a
# 1 s IAM propagation delay), rotate the bundled keystore onto a classic ELB and an
# ALB listener (plan, dry run, apply, repeat = nothing to do), rotate to a second
# keystore found by --replaces, roll back, and prune. No AWS account is used.
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
[ -x "$BIN/certup" ] || go build -o "$BIN/" ./cmd/certup
[ -x "$BIN/awstest" ] || go build -o "$BIN/" ./cmd/awstest

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# run CMD…: runs certup, shows its exit code (0 nothing to do, 10 changed, 11 partial).
run() {
	local rc=0
	"$BIN/certup" "$@" || rc=$?
	echo "(exit $rc)"
	case $rc in 0 | 10) ;; *) exit "$rc" ;; esac
}

step "awstest --seed demo --propagation-delay 1s"
"$BIN/awstest" --listen 127.0.0.1:0 --seed demo --propagation-delay 1s >"$work/awstest.out" 2>"$work/awstest.err" &
awstest_pid=$!
for _ in $(seq 1 100); do
	grep -q '^placeholder-certificate ' "$work/awstest.out" 2>/dev/null && break
	sleep 0.1
done
grep -q '^placeholder-certificate ' "$work/awstest.out" || { cat "$work/awstest.err" >&2; exit 1; }
url=$(sed -n 1p "$work/awstest.out")
elb=$(awk '$1 == "elb" {print $2}' "$work/awstest.out")
listener=$(awk '$1 == "listener" {print $2}' "$work/awstest.out")
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL="$url"

rotate=(rotate testdata/wso2carbon.jks --storepass-file testdata/wso2carbon.storepass --name-prefix wso2
	--elb "$elb" --listener "$listener")

step "certup ${rotate[*]} --dry-run   (the plan, zero changes)"
run "${rotate[@]}" --dry-run
step "certup ${rotate[*]}   (upload, switch, wait out propagation, read back)"
run "${rotate[@]}"
step "the same command again: nothing to do, no AWS change (what cron runs every day)"
run "${rotate[@]}"

old=$("$BIN/certup" list --json | awk -F'"' '/"name": "wso2-/ {print $4; exit}')
step "a renewed keystore: certup rotate testdata/chain.jks --name-prefix wso2 --replaces $old"
run rotate testdata/chain.jks --storepass-file testdata/chain.storepass --name-prefix wso2 --replaces "$old"

step "certup rollback --elb $elb --listener …   (back to the previous certificate, kept by --keep 1)"
run rollback --elb "$elb" --listener "$listener"

step "certup prune --keep 0 --dry-run   (what would go: unused certup uploads beyond --keep)"
run prune --keep 0 --dry-run
step "certup list"
"$BIN/certup" list
