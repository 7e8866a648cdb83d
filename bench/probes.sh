#!/usr/bin/env bash
# The probes of internal/probes (hostile and edge-case HTTP/1 and HTTP/2 requests) against
# jksproxy, nginx and HAProxy side by side; writes bench/probes-results.md and .json.
#
#   bash bench/probes.sh [-only NAME,...]
#
# Installs nginx-light and haproxy from apt when missing (as root); without them the
# table has jksproxy alone. Each server runs as a fresh process per probe on 127.0.0.1
# ports picked free, in front of the same two recording backends, and is stopped by its
# PID (see bench/probes/main.go for the configurations). About 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
	else
		echo "probes.sh: ${need[*]} missing and not root: the table will lack them" >&2
	fi
fi
export PATH=$PATH:/usr/sbin
mkdir -p bin
go build -o bin/ ./cmd/jksproxy
work=$(mktemp -d /tmp/kb-probes.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/probes" ./bench/probes
# A partial run (-only ...) prints its table and leaves the committed results alone.
if [ $# -gt 0 ]; then
	"$work/probes" -jksproxy bin/jksproxy -out "" "$@"
else
	"$work/probes" -jksproxy bin/jksproxy
fi
