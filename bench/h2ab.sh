#!/usr/bin/env bash
# Paired A/B of two jksproxy builds over HTTP/2 (h2load -c 32 -m 10, 1 KiB from
# bench/backend), each GOMAXPROCS 1, alternating old/new and new/old, for a machine too
# busy for absolute numbers: compare the two within each round. Prints req/s and the
# proxy's CPU per request (utime+stime from /proc). Not part of make bench.
#
#   cd DIR   # holding jksproxy-old, jksproxy-new, backend (go build ./bench/backend) and
#            # sp, a 0600 file with the keystore password
#   A=old B=new ROUNDS=4 DUR=6 bash bench/h2ab.sh
#   H2LOAD="--h1 -c 32 -m 1" ...   # the same for HTTP/1.1 keep-alive
set -u
KS=${KS:-../shared/wso2/wso2carbon-4.4.jks}
rounds=${ROUNDS:-4}; dur=${DUR:-6}; extra=${EXTRA:-}
./backend -listen 127.0.0.1:${BPORT:-18082} & bpid=$!
sleep 0.3
tck=$(getconf CLK_TCK)
run() { # bin port -> prints "reqs cpu_us_per_req"
	GOMAXPROCS=1 ./$1 --keystore $KS --alias wso2carbon --storepass-file sp \
		--listen-https 127.0.0.1:$2 --listen-http "" --admin 127.0.0.1:$(( $2 + 1 )) --backend http://127.0.0.1:${BPORT:-18082} --access-log=false $3 >/dev/null 2>&1 &
	local pid=$!
	for i in $(seq 50); do curl -sk https://127.0.0.1:$2/ -o /dev/null && break; sleep 0.1; done
	timeout 20 h2load ${H2LOAD:--c 32 -m 10} -D 1 https://127.0.0.1:$2/ >/dev/null 2>&1
	local w0=$(awk '/^syscw/{print $2}' /proc/$pid/io); local r0=$(awk '/^syscr/{print $2}' /proc/$pid/io)
	local s0=$(awk '{print $14+$15}' /proc/$pid/stat)
	local out=$(h2load ${H2LOAD:--c 32 -m 10} -D $dur https://127.0.0.1:$2/ 2>&1)
	local s1=$(awk '{print $14+$15}' /proc/$pid/stat)
	local w1=$(awk '/^syscw/{print $2}' /proc/$pid/io); local r1=$(awk '/^syscr/{print $2}' /proc/$pid/io)
	kill $pid; wait $pid 2>/dev/null
	local done=$(echo "$out" | awk '/^requests:/{print $8}')
	local rps=$(echo "$out" | awk '/^finished in/{print $4}' | tr -d ,)
	local cpu=$(awk -v a=$s0 -v b=$s1 -v t=$tck -v n=$done 'BEGIN{printf "%.1f", (b-a)/t*1e6/n}')
	local wpr=$(awk -v a=$w0 -v b=$w1 -v n=$done 'BEGIN{printf "%.2f", (b-a)/n}')
	local rpr=$(awk -v a=$r0 -v b=$r1 -v n=$done 'BEGIN{printf "%.2f", (b-a)/n}')
	echo "$1 rps=$rps succeeded=$done cpu_us_per_req=$cpu writes_per_req=$wpr reads_per_req=$rpr"
}
for r in $(seq $rounds); do
	A=${A:-old}; B=${B:-new}; if (( r % 2 )); then order="$A $B"; else order="$B $A"; fi
	for b in $order; do run jksproxy-$b 18500 "$extra"; done
done
kill $bpid
