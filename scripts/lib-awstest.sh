# Sourced by scripts/demo-certup.sh and scripts/demo-rotate.sh (after `cd` to the
# repository root and `BIN=…`): a scratch directory $work removed on exit, and
# start_awstest, which runs the local AWS endpoint (awstest --seed demo) and
# points the AWS SDK at it with dummy credentials. No AWS account is used.
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

# start_awstest DELAY [ZONE]…: starts awstest with IAM propagation delay DELAY (and
# a Route 53 hosted zone per ZONE, answered over DNS at the "dns" line's address), waits up
# to 10 s for its seed lines, then sets url, elb and listener from them and
# exports the AWS_* environment (dummy credentials, no shared config, no
# instance metadata, AWS_ENDPOINT_URL=$url).
start_awstest() {
	local zones=()
	for z in "${@:2}"; do zones+=(--hosted-zone "$z"); done
	"$BIN/awstest" --listen 127.0.0.1:0 --seed demo --propagation-delay "$1" "${zones[@]}" >"$work/awstest.out" 2>"$work/awstest.err" &
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
	url=$(sed -n 1p "$work/awstest.out")
	elb=$(awk '$1 == "elb" {print $2}' "$work/awstest.out")
	listener=$(awk '$1 == "listener" {print $2}' "$work/awstest.out")
	export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
	export AWS_ENDPOINT_URL="$url"
}
