#!/usr/bin/env bash
# certup rotate at scale, against the local AWS endpoint (no AWS account): 200 HTTPS
# listeners in two regions, 50 ms added to every AWS call, the built certup with its
# default --parallel. Prints a markdown table: wall time, API calls (and per listener),
# mutating calls, exit code, for a rotation, a repeat, a rotation by --replaces, a
# rollback and a prune. Targets: at most 2 calls per listener plus a constant, ≤ 5 s.
#   bash bench/rotate.sh [LISTENERS] [LATENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
LISTENERS=${1:-${LISTENERS:-200}}
LATENCY=${2:-${LATENCY:-50ms}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/certup" ./cmd/certup
go build -o "$work/rotatebench" ./bench/rotatebench
"$work/rotatebench" -certup "$work/certup" -listeners "$LISTENERS" -latency "$LATENCY" -testdata testdata
