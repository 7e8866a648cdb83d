#!/usr/bin/env bash
# make bench: every workload side by side with its peer, in one run; the table goes to
# stdout and to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v keytool >/dev/null || need+=(default-jre-headless)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
{
	echo "# keybridge benchmarks"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), $(openssl version | cut -d' ' -f1-2), Java $(java -version 2>&1 | head -1 | cut -d'"' -f2); $(date -u +%Y-%m-%d)."
	echo
	bash bench/jks2pem.sh
	for part in bench/rotate.sh bench/proxy.sh; do
		[ -f "$part" ] && { echo; bash "$part"; }
	done
} | tee bench/results.md.tmp
mv bench/results.md.tmp bench/results.md
# The chart the README shows: ratios to nginx from the figures bench/proxy.sh just wrote.
if [ -f bench/proxy-results.json ]; then
	go run ./bench/chart svg -in bench/proxy-results.json -out bench/results.svg
fi
