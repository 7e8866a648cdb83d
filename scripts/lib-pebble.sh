# Sourced by .ci/run and scripts/demo-renew.sh: pebble_bin prints the path of Pebble
# v2.10.3 (Let's Encrypt's ACME test server) — $PEBBLE_BIN, or the copy in the user's
# cache directory where the tests look, built there from the Go module proxy on first use.
pebble_bin() {
	if [ -n "${PEBBLE_BIN:-}" ]; then
		echo "$PEBBLE_BIN"
		return
	fi
	local dir="${XDG_CACHE_HOME:-$HOME/.cache}/keybridge/pebble-v2.10.3"
	if [ ! -x "$dir/pebble" ]; then
		echo "building pebble into $dir" >&2
		mkdir -p "$dir"
		GOBIN="$dir" GOFLAGS=-mod=mod go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3 >&2
	fi
	echo "$dir/pebble"
}
