#!/usr/bin/env bash
# The certup part of `make demo`: start the local AWS endpoint (awstest) with a
# classic ELB and an ALB listener; WSO2's keystore (CN=localhost) is refused for the
# ALB before anything changes, goes on the classic ELB, a keystore for a real name
# goes on the ALB, both with JSESSIONID stickiness; run again (nothing to do), set
# the stickiness on every web port of the classic ELB (the seed's 80 and 443), then
# list and check.
# No AWS account is used: every call goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
# shellcheck source=scripts/lib-awstest.sh
. scripts/lib-awstest.sh

step "awstest --listen 127.0.0.1:0 --seed demo --propagation-delay 2s   (local IAM/ACM/ELB endpoint)"
start_awstest 2s
cat "$work/awstest.out"

wso2=(testdata/wso2carbon.jks --storepass-file testdata/wso2carbon.storepass)

step "certup deploy ${wso2[*]} --elb $elb --listener …   (refused: CN=localhost on an ALB)"
rc=0
"$BIN/certup" deploy "${wso2[@]}" --elb "$elb" --listener "$listener" || rc=$?
echo "(exit $rc: nothing was uploaded or changed)"
[ "$rc" = 1 ] || exit 1

# The seed's layout: WSO2's certificate on the classic ELB (a warning: browsers will
# not match localhost), a certificate for the site's name on the ALB.
classic=(deploy "${wso2[@]}" --elb "$elb" --stickiness-cookie JSESSIONID)
alb=(deploy testdata/rsa2048.jks --storepass-file testdata/rsa2048.storepass --listener "$listener"
	--stickiness-cookie JSESSIONID)

step "certup ${classic[*]}"
"$BIN/certup" "${classic[@]}"
step "certup ${alb[*]}"
"$BIN/certup" "${alb[@]}"

step "again: everything is in place, no change is made"
"$BIN/certup" "${classic[@]}"
"$BIN/certup" "${alb[@]}"

step "certup stickiness --elb $elb --cookie JSESSIONID   (the seed's step: JSESSIONID on port 80 and 443)"
"$BIN/certup" stickiness --elb "$elb" --cookie JSESSIONID

step "certup list"
"$BIN/certup" list

step "certup check --elb $elb --days 30   (for cron: exit 0 ok, 1 expiring)"
"$BIN/certup" check --elb "$elb" --days 30
