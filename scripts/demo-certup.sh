#!/usr/bin/env bash
# The certup part of `make demo`: start the local AWS endpoint (awstest) with a
# classic ELB and an ALB listener, deploy the bundled keystore onto both with
# JSESSIONID stickiness, run it again (nothing to do), then list and check.
# No AWS account is used: every call goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
# shellcheck source=scripts/lib-awstest.sh
. scripts/lib-awstest.sh

step "awstest --listen 127.0.0.1:0 --seed demo --propagation-delay 2s   (local IAM/ACM/ELB endpoint)"
start_awstest 2s
cat "$work/awstest.out"

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
