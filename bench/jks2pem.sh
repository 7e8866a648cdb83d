#!/usr/bin/env bash
# jks2pem against the keytool+openssl pipeline it replaces (bench/pipeline.sh), same
# keystore, same run, in turns (pipeline, jks2pem, pipeline, …), timed by bench/timeit
# without a shell in between. Prints a markdown table of medians and ratios.
#   bash bench/jks2pem.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-${ROUNDS:-5}}
BIN=${BIN:-bin}
SHARED=${SHARED:-../shared/wso2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'wso2carbon\n' >"$work/pass" # the password WSO2 ships its own keystores with

command -v keytool >/dev/null || { echo "keytool missing: apt-get install default-jre-headless" >&2; exit 1; }
[ -x "$BIN/jks2pem" ] || go build -o "$BIN/" ./cmd/jks2pem
go build -o "$work/timeit" ./bench/timeit

row() { # label keystore alias
	mkdir -p "$work/p" "$work/j"
	"$work/timeit" -rounds "$ROUNDS" \
		-- bash bench/pipeline.sh "$2" "$3" "$work/pass" "$work/p" \
		-- "$BIN/jks2pem" --force --alias "$3" --out-dir "$work/j" --storepass-file "$work/pass" "$2" |
		awk -v l="$1" '{m[$1]=$2; lo[$1]=$3; hi[$1]=$4} END{
			printf "| %s | %.0f ms (%.0f–%.0f) | %.1f ms (%.1f–%.1f) | %.0f× |\n", l, m[0]/1e6, lo[0]/1e6, hi[0]/1e6, m[1]/1e6, lo[1]/1e6, hi[1]/1e6, m[0]/m[1] }'
}

echo "### jks2pem vs the keytool+openssl pipeline"
echo
echo "$ROUNDS rounds each, in turns; median (min–max) wall time per conversion, process start-up included."
echo
echo "| keystore | keytool+openssl | jks2pem | jks2pem faster by |"
echo "|---|---|---|---|"
row "testdata/wso2carbon.jks (3 entries)" testdata/wso2carbon.jks wso2carbon
if [ -d "$SHARED" ]; then
	row "WSO2 4.4 wso2carbon.jks (36 entries)" "$SHARED/wso2carbon-4.4.jks" wso2carbon
	row "WSO2 4.10 wso2carbon.p12 (143 entries, no MAC)" "$SHARED/wso2carbon-4.10.p12" wso2carbon
fi
echo
echo "keystore package, in process (go test -bench, one conversion = parse + decrypt + PEM):"
echo
echo '```'
go test ./keystore -run '^$' -bench 'Convert' -benchmem -count 1 2>/dev/null | grep -E '^Benchmark' || true
echo '```'
