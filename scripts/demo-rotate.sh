#!/usr/bin/env bash
# The rotation part of `make demo`: against the local AWS endpoint (awstest, with a
# 1 s IAM propagation delay), rotate the bundled keystore onto a classic ELB and an
# ALB listener (plan, dry run, apply, repeat = nothing to do), rotate to a second
# keystore found by --replaces, roll back, and prune. No AWS account is used.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
# shellcheck source=scripts/lib-awstest.sh
. scripts/lib-awstest.sh
[ -x "$BIN/certup" ] || go build -o "$BIN/" ./cmd/certup
[ -x "$BIN/awstest" ] || go build -o "$BIN/" ./cmd/awstest

# run CMD…: runs certup, shows its exit code (with --detailed-exitcode: 0 nothing to do,
# 10 changed; 11 partial).
run() {
	local rc=0
	"$BIN/certup" "$@" || rc=$?
	echo "(exit $rc)"
	case $rc in 0 | 10) ;; *) exit "$rc" ;; esac
}

step "awstest --seed demo --propagation-delay 1s"
start_awstest 1s

# An ALB listener takes only a certificate with a fully qualified domain name, so
# the demo rotates keystores for rsa2048.keybridge.test and rsa4096.keybridge.test
# (WSO2's own says CN=localhost: see the certup part).
rotate=(rotate testdata/rsa2048.jks --storepass-file testdata/rsa2048.storepass --name-prefix wso2
	--elb "$elb" --listener "$listener" --detailed-exitcode)

step "certup ${rotate[*]} --dry-run   (the plan, zero changes)"
run "${rotate[@]}" --dry-run
step "certup ${rotate[*]}   (upload, switch, wait out propagation, read back)"
run "${rotate[@]}"
step "the same command again: nothing to do, no AWS change (what cron runs every day)"
run "${rotate[@]}"

old=$("$BIN/certup" list --json | awk -F'"' '/"name": "wso2-/ {print $4; exit}')
step "a renewed keystore: certup rotate testdata/rsa4096.jks --name-prefix wso2 --replaces $old"
run rotate testdata/rsa4096.jks --storepass-file testdata/rsa4096.storepass --name-prefix wso2 --replaces "$old"

step "certup rollback --elb $elb --listener …   (back to the previous certificate, kept by --keep 1)"
run rollback --elb "$elb" --listener "$listener"

step "certup prune --keep 0 --dry-run   (what would go: unused certup uploads beyond --keep)"
run prune --keep 0 --dry-run
step "certup list"
"$BIN/certup" list
