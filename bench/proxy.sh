#!/usr/bin/env bash
# jksproxy against nginx, HAProxy and Caddy: same keys, same backend, same machine, same run.
# Prints one markdown table (per workload and server: median and min–max over the rounds,
# and the ratio of medians to nginx) and writes the figures as JSON for bench/chart, which
# draws bench/results.svg.
#
#   bash bench/proxy.sh [--rounds N] [--duration SECS] [--only W1,W2] [--servers S1,S2]
#                       [--pin | --no-pin] [--idle-conns N] [--json FILE] [--profile DIR]
#                       [--counts FILE]
#
# Workloads (--only): keepalive, full-rsa, full-ec, resumed, idle, idle-h2, h2 (h2 only
# if h2load installs). Servers (--servers): nginx, haproxy, caddy, jksproxy; all four by default,
# Caddy only if it builds (see below: without it the others run as before). While tuning
# jksproxy, e.g.:
#   bash bench/proxy.sh --only keepalive --servers jksproxy,nginx --rounds 1
#   bash bench/proxy.sh --only keepalive --servers jksproxy --rounds 1 --profile /tmp/prof
#     (then: go tool pprof -top bin/jksproxy /tmp/prof/jksproxy-keepalive-1.pprof)
#   bash bench/proxy.sh --only keepalive --servers jksproxy,nginx --rounds 3 --counts /tmp/counts.txt
#     (after each keep-alive run one more, not in the table: from its second second to
#     its last but one, system calls, epoll waits, context switches and CPU per request
#     of wrk, the backend and the server, and how often CPU 1 woke the server, by
#     perf's counters; needs perf)
# Only a full default run writes bench/proxy-results.json (or --json FILE).
#
# With the h2 workload, h2spec (HTTP/2 conformance) runs against every server after the
# timed rounds; the report lists what each fails.
#
# Caddy is the release CADDY_VERSION (below; the environment may override it), built once
# from the Go module proxy with the Go here into bin/ (git-ignored), outside this module so
# that go.mod and go.sum stay as they are. If it does not build (no network, too old a Go),
# one line says so and the run goes on without Caddy.
#
# What is fair here, and why:
# - CPUs. The load generator and the backend share the machine with the server under
#   test. On 2+ cores (default --pin) the server runs on CPU 0 alone and wrk, tlsload,
#   h2load and the backend on the others, so every server gets exactly one core that the
#   client cannot take, and runs one worker: nginx worker_processes 1, HAProxy nbthread 1,
#   jksproxy and Caddy GOMAXPROCS 1 (Go takes it from its CPU mask; set for Caddy all the
#   same). Unpinned (--no-pin: one worker per CPU everywhere), two server workers, two wrk
#   threads and the backend fight over two cores and p99 mostly measures run-queue waits.
#   Pinned, the client core can be the limit for the cheaper servers: the "server CPU
#   busy" rows show when (well under 100 %), and CPU per request is the figure that holds
#   either way.
# - TLS. Every server: TLS 1.2 and 1.3, server's cipher order with AES-128-GCM first (what
#   Go picks; Caddy and jksproxy use Go's own order), session tickets on. Clients speak
#   TLS 1.3 with X25519.
# - Proxying. The same backend (bench/backend: a minimal HTTP/1.1 responder in Go, 1 KiB
#   bodies, ~11 µs of the client core per request where a net/http server took ~18 µs and
#   left the proxies idling at 70-80 % while the client core was full) over keep-alive
#   pools; no access logs; the backend gets the same forwarding fields from all
#   (X-Forwarded-For/Proto/Host/Port, Forwarded and Via), as jksproxy always sends them;
#   no cap on requests per client connection (nginx's default 1,000 raised). Caddy also
#   adds Via to its responses (its default), which we leave on.
# - Order. Per round, per workload, each server in turn, the order rotated per round, so
#   that drift and other load on the machine hit every server alike.
# Every server listens on 127.0.0.1 only, on ports picked free at start; everything this
# script starts is stopped by PID on exit. Each run is bounded by --duration (handshake
# loops also by a count, idle opening by a timeout); the default run (7 rounds: a single
# keep-alive run of one server swings by ±15 % on this shared machine, and the median of
# 7 holds better than of 3 or 5) takes about 18 minutes (idle-h2 about 4 of them), plus
# a minute or two the first time to build Caddy.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_SERVERS=nginx,haproxy,caddy,jksproxy
ROUNDS=7 DURATION=5 ONLY=all SERVERS=$ALL_SERVERS PIN=auto IDLE_CONNS=5000 JSON= PROFILE= COUNTS=
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--servers) SERVERS=$2; shift 2 ;;
	--pin) PIN=yes; shift ;;
	--no-pin) PIN=no; shift ;;
	--idle-conns) IDLE_CONNS=$2; shift 2 ;;
	--json) JSON=$2; shift 2 ;;
	--profile) PROFILE=$2; shift 2 ;;
	--counts) COUNTS=$2; shift 2 ;;
	-h | --help) usage ;;
	*) echo "proxy.sh: unknown argument $1" >&2; usage ;;
	esac
done
[[ $ROUNDS =~ ^[1-9][0-9]?$ && $DURATION =~ ^[1-9][0-9]?$ && $IDLE_CONNS =~ ^[1-9][0-9]{0,4}$ ]] ||
	{ echo "proxy.sh: --rounds 1..99, --duration 1..99 seconds, --idle-conns 1..99999" >&2; exit 2; }
# Only a full run replaces the committed figures (with Caddy, or without it if it did not build).
if [ -z "$JSON" ] && [ "$ONLY" = all ] && [ "$SERVERS" = "$ALL_SERVERS" ]; then
	JSON=bench/proxy-results.json
fi
want() { [ "$ONLY" = all ] || [[ ",$ONLY," == *",$1,"* ]]; }
serving() { [[ ",$SERVERS," == *",$1,"* ]]; }

# --- tools ------------------------------------------------------------------------------
need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
# jksproxy is measured as built with -tags openssl (RSA signatures by libcrypto, see
# internal/osslrsa); JKSPROXY_TAGS= (empty) measures the default pure-Go build instead.
JKSPROXY_TAGS=${JKSPROXY_TAGS-openssl}
if [[ " $JKSPROXY_TAGS " == *" openssl "* ]]; then
	command -v gcc >/dev/null || need+=(gcc libc6-dev)
	dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
fi
if [ ${#need[@]} -gt 0 ] || ! command -v h2load >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		[ ${#need[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
		command -v h2load >/dev/null || apt-get install -y -qq --no-install-recommends nghttp2-client >&2 ||
			echo "proxy.sh: nghttp2-client (h2load) not available; skipping HTTP/2" >&2
	elif [ ${#need[@]} -gt 0 ]; then
		echo "proxy.sh: missing ${need[*]}: run as root or apt-get install them" >&2
		exit 1
	fi
fi
export PATH=$PATH:/usr/sbin
# Debian starts the packaged services on install; ours are separate processes on other
# ports, so the packaged ones (if running) only cost a little idle memory.

work=$(mktemp -d /tmp/kb-proxybench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p bin
go build -o bin/ ./cmd/jks2pem
if [ -n "$JKSPROXY_TAGS" ]; then
	CGO_ENABLED=1 go build -tags "$JKSPROXY_TAGS" -o bin/ ./cmd/jksproxy
else
	go build -o bin/ ./cmd/jksproxy
fi
# Which jksproxy was measured: the commit, whether its sources differed from it at build
# time, and the binary's own hash (two runs with the same hash ran the same code).
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- proxy cmd/jksproxy internal keystore 2>/dev/null)" ] || rev+="+changes"
rev+=", built with tags '${JKSPROXY_TAGS}', binary sha256 $(sha256sum bin/jksproxy | cut -c1-12)"
go build -o "$work/" ./bench/backend ./bench/tlsload ./bench/chart
tl=$work/tlsload

# Caddy: the pinned release, built from the Go module proxy once per version (a minute or
# two) into bin/, outside this module (go.mod and go.sum untouched) and with the Go here
# (GOTOOLCHAIN=local: no toolchain download); without cgo and with -trimpath, as Caddy's
# own release builds. -X CustomVersion, or `caddy version` of a `go install` build says
# "unknown". If it does not build, the run goes on without it.
CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
caddy=$PWD/bin/caddy-$CADDY_VERSION caddy_skipped=
if serving caddy && [ ! -x "$caddy" ]; then
	echo "proxy.sh: building Caddy $CADDY_VERSION from the Go module proxy into bin/ (once)" >&2
	if (cd "$work" && GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$work/caddy-build" timeout 900 \
		go install -trimpath -ldflags "-X github.com/caddyserver/caddy/v2.CustomVersion=$CADDY_VERSION" \
		"github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION") >"$work/caddy-build.txt" 2>&1; then
		mv "$work/caddy-build/caddy" "$caddy"
	else
		caddy_skipped="go install caddy@$CADDY_VERSION failed: $(awk '!/^go: downloading/ { l = $0 }
			END { sub(/^go: /, "", l); gsub(/[^ ]*\/caddy@[^ ]*: /, "", l)
				print l == "" ? "no message (timed out?)" : substr(l, 1, 300) }' "$work/caddy-build.txt")"
	fi
fi
if [ -n "$caddy_skipped" ]; then
	echo "proxy.sh: Caddy skipped: $caddy_skipped" >&2
	SERVERS=,$SERVERS,
	SERVERS=${SERVERS//,caddy,/,}
	SERVERS=${SERVERS#,} SERVERS=${SERVERS%,}
	[ -n "$SERVERS" ] || { echo "proxy.sh: no server left to measure" >&2; exit 1; }
fi

# 5,000 held connections need file descriptors in the servers and in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((IDLE_CONNS * 2 + 200)) ] && { want idle || want idle-h2; }; then
	echo "proxy.sh: ulimit -n is $nofile; the idle workload needs $((IDLE_CONNS * 2 + 200))" >&2
	exit 1
fi

# --- CPUs -------------------------------------------------------------------------------
# The load generator and the backend share the machine with the server under test. With
# --pin (the default on 2 or more cores) the server gets CPU 0 alone, and wrk/tlsload/h2load
# and the backend get the other CPUs, so every server gets exactly one core and the
# client's own work cannot steal from it; each server runs one worker (nginx
# worker_processes 1, HAProxy nbthread 1, jksproxy GOMAXPROCS 1 from its CPU mask).
# --no-pin lets everything float over all CPUs with one worker per CPU in every server.
ncpu=$(nproc)
[ "$PIN" = auto ] && { [ "$ncpu" -ge 2 ] && PIN=yes || PIN=no; }
if [ "$PIN" = yes ]; then
	srv_run=(taskset -c 0) cli_run=(taskset -c "1-$((ncpu - 1))") workers=1
	[ "$ncpu" -eq 2 ] && cli_run=(taskset -c 1)
else
	srv_run=() cli_run=() workers=$ncpu
fi

# --- keys ---------------------------------------------------------------------------------
# nginx and HAProxy get PEM files from jks2pem; jksproxy reads the keystores themselves.
for k in rsa:wso2carbon ec:ecdsa-demo; do
	name=${k%%:*} ks=testdata/${k#*:}.jks
	mkdir -p "$work/$name"
	bin/jks2pem --force --alias wso2carbon --out-dir "$work/$name" --storepass-file "${ks%.jks}.storepass" "$ks" >/dev/null
	(umask 077 && cat "$work/$name/wso2carbon.fullchain.pem" "$work/$name/wso2carbon.key" >"$work/$name/haproxy.pem")
done

read -r P_BACK P_NG_RSA P_NG_EC P_HA_RSA P_HA_EC P_CA_RSA P_CA_EC P_JK_RSA P_JK_EC P_JK_HTTP P_JK_HTTP2 P_ADMIN < <("$tl" ports 12)
suites=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

start() { # name, then the command; remembers the PID in PID_name
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	printf -v "PID_$name" %s $!
}
stop() { # name: SIGTERM to that PID alone, then wait for it
	local v=PID_$1 p q keep=()
	p=${!v}
	kill -TERM "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	pids=("${keep[@]}")
}

start backend "${cli_run[@]}" "$work/backend" -listen "127.0.0.1:$P_BACK"

# nginx: TLS 1.2+1.3 like jksproxy, server's cipher order (AES-128-GCM first, what Go
# picks too), keep-alive pool to the backend, no access log, no limit on requests per
# client connection (jksproxy and HAProxy have none), X-Forwarded-* set as jksproxy does.
start_nginx() { # name rsa-port ec-port ("-": none)
	local d=$work/$1 port key blocks=
	mkdir -p "$d"
	for key in rsa ec; do
		port=$2
		[ $key = ec ] && port=$3
		[ "$port" = - ] && continue
		blocks+="
		    server {
		        listen 127.0.0.1:$port ssl http2;
		        ssl_certificate $work/$key/wso2carbon.fullchain.pem;
		        ssl_certificate_key $work/$key/wso2carbon.key;
		        location / { proxy_pass http://backend; }
		    }"
	done
	cat >"$d/nginx.conf" <<-EOF
		worker_processes $workers;
		worker_rlimit_nofile $((IDLE_CONNS * 2 + 1000));
		daemon off;
		pid $d/nginx.pid;
		error_log $d/error.log warn;
		events { worker_connections $((IDLE_CONNS + 2000)); }
		http {
		    access_log off;
		    client_body_temp_path $d/body;
		    proxy_temp_path $d/proxy;
		    keepalive_timeout 120s;
		    keepalive_requests 1000000;
		    ssl_protocols TLSv1.2 TLSv1.3;
		    ssl_prefer_server_ciphers on;
		    ssl_conf_command Ciphersuites $suites;
		    ssl_session_cache shared:SSL:20m;
		    ssl_session_tickets on;
		    upstream backend {
		        server 127.0.0.1:$P_BACK;
		        keepalive 128;
		        keepalive_requests 1000000;
		    }
		    proxy_http_version 1.1;
		    proxy_set_header Connection "";
		    proxy_set_header Host \$host;
		    proxy_set_header X-Forwarded-For \$remote_addr;
		    proxy_set_header X-Forwarded-Proto \$scheme;
		    proxy_set_header X-Forwarded-Host \$host;
		    proxy_set_header X-Forwarded-Port \$server_port;
		    proxy_set_header Forwarded "for=\$remote_addr;host=\\"\$http_host\\";proto=\$scheme";
		    proxy_set_header Via "1.1 nginx";$blocks
		}
	EOF
	start "$1" "${srv_run[@]}" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf"
}

# HAProxy: one process (foreground, no master-worker), nbthread as above, same TLS policy,
# keep-alive to the backend with connection reuse, no logging, X-Forwarded-* set.
start_haproxy() { # name rsa-port ec-port ("-": none)
	local d=$work/$1 port key fronts=
	mkdir -p "$d"
	for key in rsa ec; do
		port=$2
		[ $key = ec ] && port=$3
		[ "$port" = - ] && continue
		fronts+="
		frontend $key
		    bind 127.0.0.1:$port ssl crt $work/$key/haproxy.pem alpn h2,http/1.1
		    option forwardfor
		    http-request set-header X-Forwarded-Proto https
		    http-request set-header X-Forwarded-Host %[req.hdr(host)]
		    http-request set-header X-Forwarded-Port %[dst_port]
		    http-request set-header Forwarded \"for=%[src];host=\\\"%[req.hdr(host)]\\\";proto=https\"
		    http-request add-header Via \"1.1 haproxy\"
		    default_backend app"
	done
	cat >"$d/haproxy.cfg" <<-EOF
		global
		    nbthread $workers
		    maxconn $((IDLE_CONNS + 500))
		    ssl-default-bind-options ssl-min-ver TLSv1.2
		    ssl-default-bind-ciphersuites $suites
		    tune.ssl.cachesize 100000
		defaults
		    mode http
		    option http-keep-alive
		    http-reuse always
		    timeout connect 5s
		    timeout client 120s
		    timeout server 60s
		    timeout http-request 10s
		    timeout http-keep-alive 120s$fronts
		backend app
		    server b1 127.0.0.1:$P_BACK
	EOF
	start "$1" "${srv_run[@]}" haproxy -db -f "$d/haproxy.cfg"
}

# Caddy: one process with a JSON config (its native form; a Caddyfile is adapted to it):
# the same PEM files, picked per listener by tag (the clients send no SNI, or an IP); TLS
# 1.2+1.3 with Go's suites, as jksproxy; session tickets on (Caddy's default: Go's own
# rotating keys); no automatic HTTPS, no admin endpoint, no autosaved config; no access
# log (Caddy logs requests only for a server with "logs"), warnings only, like nginx's
# error_log; HTTP/1.1 and h2 (no h3, which would also listen on UDP); idle client
# connections kept 120 s like the others; the backend over a keep-alive pool of 128 like
# nginx's (Caddy's default keeps 32 idle); a 1 s grace period on SIGTERM. X-Forwarded-For,
# -Proto and -Host and Via are Caddy's defaults; -Port and Forwarded are added, as the
# others send them.
start_caddy() { # name rsa-port ec-port ("-": none)
	local d=$work/$1 port key certs= srvs= sep=
	mkdir -p "$d"
	for key in rsa ec; do
		port=$2
		[ $key = ec ] && port=$3
		[ "$port" = - ] && continue
		certs+=$sep$(printf '{"certificate": "%s", "key": "%s", "tags": ["%s"]}' \
			"$work/$key/wso2carbon.fullchain.pem" "$work/$key/wso2carbon.key" $key)
		srvs+=$sep$(caddy_server $key "$port")
		sep=,
	done
	cat >"$d/caddy.json" <<-EOF
		{
		  "admin": {"disabled": true, "config": {"persist": false}},
		  "logging": {"logs": {"default": {"level": "WARN"}}},
		  "apps": {
		    "tls": {"certificates": {"load_files": [$certs]}},
		    "http": {"grace_period": "1s", "servers": {$srvs}}
		  }
		}
	EOF
	start "$1" "${srv_run[@]}" env GOMAXPROCS="$workers" XDG_CONFIG_HOME="$d" XDG_DATA_HOME="$d" \
		"$caddy" run --config "$d/caddy.json"
}
caddy_server() { # rsa|ec port: that listener's server in start_caddy's config
	cat <<-EOF
		"$1": {
		  "listen": ["127.0.0.1:$2"],
		  "protocols": ["h1", "h2"],
		  "idle_timeout": "120s",
		  "automatic_https": {"disable": true},
		  "tls_connection_policies": [{
		    "certificate_selection": {"any_tag": ["$1"]},
		    "protocol_min": "tls1.2",
		    "protocol_max": "tls1.3"
		  }],
		  "routes": [{"handle": [{
		    "handler": "reverse_proxy",
		    "upstreams": [{"dial": "127.0.0.1:$P_BACK"}],
		    "transport": {"protocol": "http", "keep_alive": {"max_idle_conns_per_host": 128}},
		    "headers": {"request": {"set": {"X-Forwarded-Port": ["{http.request.local.port}"], "Forwarded": ["for={http.request.remote.host};host=\\"{http.request.host}\\";proto={http.request.scheme}"]}}}
		  }]}]
		}
	EOF
}

# jksproxy: one process per keystore (it serves one key pair), access log off like the
# others; the backend sets no session cookie, so stickiness does nothing here.
start_jksproxy() { # name rsa|ec https-port http-port [more flags]
	local ks=testdata/wso2carbon.jks
	[ "$2" = ec ] && ks=testdata/ecdsa-demo.jks
	start "$1" "${srv_run[@]}" bin/jksproxy --keystore "$ks" --alias wso2carbon \
		--storepass-file "${ks%.jks}.storepass" --listen-https "127.0.0.1:$3" \
		--listen-http "127.0.0.1:$4" --backend "http://127.0.0.1:$P_BACK" \
		--access-log=false --max-conns $((IDLE_CONNS + 2000)) "${@:5}"
}

# --profile: CPU profiles of jksproxy (RSA instance) during each of its runs.
prof_flags=()
if [ -n "$COUNTS" ]; then
	command -v perf >/dev/null || { echo "proxy.sh: --counts needs perf (apt-get install linux-perf)" >&2; exit 1; }
	[ "$PIN" = yes ] || [ "$PIN" = auto ] || { echo "proxy.sh: --counts wants the pinned layout" >&2; exit 2; }
	: >"$COUNTS"
fi
if [ -n "$PROFILE" ]; then
	grep -q -- --pprof <(bin/jksproxy --help) || { echo "proxy.sh: this jksproxy has no --pprof" >&2; exit 1; }
	mkdir -p "$PROFILE"
	prof_flags=(--admin "127.0.0.1:$P_ADMIN" --pprof)
fi

serving nginx && start_nginx nginx "$P_NG_RSA" "$P_NG_EC"
serving haproxy && start_haproxy haproxy "$P_HA_RSA" "$P_HA_EC"
serving caddy && start_caddy caddy "$P_CA_RSA" "$P_CA_EC"
if serving jksproxy; then
	start_jksproxy jksproxy rsa "$P_JK_RSA" "$P_JK_HTTP" "${prof_flags[@]}"
	start_jksproxy jksproxyec ec "$P_JK_EC" "$P_JK_HTTP2"
fi

# Per server: RSA port, ECDSA port, and the PIDs whose CPU and memory are measured.
IFS=, read -r -a servers <<<"$SERVERS"
declare -A rsa_port ec_port rsa_pid ec_pid
for s in "${servers[@]}"; do
	case $s in
	nginx) rsa_port[$s]=$P_NG_RSA ec_port[$s]=$P_NG_EC rsa_pid[$s]=$PID_nginx ec_pid[$s]=$PID_nginx ;;
	haproxy) rsa_port[$s]=$P_HA_RSA ec_port[$s]=$P_HA_EC rsa_pid[$s]=$PID_haproxy ec_pid[$s]=$PID_haproxy ;;
	caddy) rsa_port[$s]=$P_CA_RSA ec_port[$s]=$P_CA_EC rsa_pid[$s]=$PID_caddy ec_pid[$s]=$PID_caddy ;;
	jksproxy) rsa_port[$s]=$P_JK_RSA ec_port[$s]=$P_JK_EC rsa_pid[$s]=$PID_jksproxy ec_pid[$s]=$PID_jksproxyec ;;
	*) echo "proxy.sh: unknown server $s (nginx, haproxy, caddy, jksproxy)" >&2; exit 2 ;;
	esac
done
ready() { # server port...: listening, and proxying to the backend (jksproxy marks the
	# backend healthy after its first check)
	local s=$1 p t
	shift
	for p in "$@"; do
		"$tl" wait -addr "127.0.0.1:$p" || { echo "proxy.sh: $s did not start:" >&2; cat "$work"/*.log "$work"/*/error.log >&2 2>/dev/null; exit 1; }
		for t in $(seq 50); do
			"$tl" handshake -addr "127.0.0.1:$p" -c 1 -d 100ms >/dev/null 2>&1 && break
			[ "$t" = 50 ] && { echo "proxy.sh: $s does not proxy to the backend" >&2; exit 1; }
			sleep 0.1
		done
	done
}
"$tl" wait -addr "127.0.0.1:$P_BACK"
for s in "${servers[@]}"; do ready "$s" "${rsa_port[$s]}" "${ec_port[$s]}"; done

H2=no
command -v h2load >/dev/null && H2=yes
raw=$work/raw.tsv
: >"$raw"
errs=$work/errors.txt
: >"$errs"
cpu() { "$tl" proc -pid "$1" | sed 's/.*cpu_us=\([0-9]*\).*/\1/'; }
rec() { echo "$1 $2 $3 $4" >>"$raw"; }
busy() { # metric server round cpu_us secs: share of the server's CPUs it used, in %
	awk -v m="$1" -v s="$2" -v r="$3" -v c="$4" -v t="$5" -v w="$workers" \
		'BEGIN { if (t > 0) printf "%s_busy %s %s %.1f\n", m, s, r, c / (t * 1e6 * w) * 100 }' >>"$raw"
}
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; } # key, line

run() { # workload server round, with a CPU profile of jksproxy alongside when asked
	local prof=
	if [ -n "$PROFILE" ] && [ "$2" = jksproxy ] && [[ $1 != full-ec && $1 != idle* ]]; then
		"$tl" get -url "http://127.0.0.1:$P_ADMIN/debug/pprof/profile?seconds=$DURATION" -out "$PROFILE/jksproxy-$1-$3.pprof" &
		prof=$!
	fi
	measure "$@"
	[ -z "$COUNTS" ] || [ "$1" != keepalive ] || count "$@"
	[ -z "$prof" ] || wait "$prof" || echo "profile of $1 round $3 failed" >>"$errs"
}

# count: with --counts, one more keep-alive run after measure's, not in the table, with perf counting
# wrk, the backend and the server over the middle of the run. Requests in that window
# are the backend's writes (bench/backend answers each with one write).
count() { # keepalive server round
	local s=$2 r=$3 pid=${rsa_pid[$2]} wp wpid c comm=$2 ev
	[ "$s" = nginx ] && pid=$(pgrep -P "$pid" | head -1) # the worker
	[ "$s" = caddy ] && comm=caddy-
	ev=raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_write,context-switches,task-clock
	"${cli_run[@]}" wrk -t2 -c64 -d"${DURATION}s" "https://127.0.0.1:${rsa_port[$s]}/" >"$work/count-run.txt" &
	wp=$!
	sleep 1
	wpid=$(pgrep -P "$wp" wrk || echo "$wp")
	local d=$((DURATION > 2 ? DURATION - 2 : 1)) waits=("$wp")
	for c in wrk:$wpid backend:$PID_backend server:$pid; do
		perf stat -x, -e "$ev" -p "${c#*:}" -o "$work/count-${c%%:*}.txt" sleep "$d" &
		waits+=($!)
	done
	perf stat -x, -a -C 1 -e sched:sched_waking --filter "comm ~ \"$comm*\"" -o "$work/count-wake.txt" sleep "$d" &
	waits+=($!)
	wait "${waits[@]}"
	awk -F, -v s="$s" -v r="$r" '
		FNR == 1 { who = FILENAME; sub(/.*count-/, "", who); sub(/\.txt$/, "", who) }
		$1 ~ /^[0-9.]+$/ { v[who, $3] = $1 }
		END { n = v["backend", "syscalls:sys_enter_write"]; if (n <= 0) exit
			printf "%s round %s, %d requests:", s, r, n
			split("wrk backend server", ws, " ")
			for (i = 1; i <= 3; i++) { w = ws[i]
				printf " | %s syscalls %.2f epoll %.3f cs %.3f cpu %.2f us", w, v[w, "raw_syscalls:sys_enter"] / n,
					(v[w, "syscalls:sys_enter_epoll_wait"] + v[w, "syscalls:sys_enter_epoll_pwait"]) / n,
					v[w, "context-switches"] / n, v[w, "task-clock"] * 1000 / n }
			printf " | server woken by CPU 1 %.4f\n", v["wake", "sched:sched_waking"] / n }' \
		"$work"/count-{wrk,backend,server,wake}.txt >>"$COUNTS"
}

measure() { # workload server round
	local w=$1 s=$2 r=$3 url="https://127.0.0.1:${rsa_port[$2]}/" pid=${rsa_pid[$2]} out c0 c1
	case $w in
	keepalive)
		c0=$(cpu "$pid")
		out=$("${cli_run[@]}" wrk -t2 -c64 -d"${DURATION}s" --latency "$url")
		c1=$(cpu "$pid")
		awk -v s="$s" -v r="$r" -v cpu=$((c1 - c0)) -v errs="$errs" '
			function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
			/^ *99%/ { p99 = ms($2) }
			/requests in/ { n = $1 }
			/Requests\/sec/ { rps = $2 }
			/Non-2xx|Socket errors/ { print "keepalive " s " round " r ": " $0 >> errs }
			END { if (n > 0 && rps > 0) {
				printf "keepalive_rps %s %s %s\nkeepalive_p99_ms %s %s %s\nkeepalive_cpu_us %s %s %.2f\n", s, r, rps, s, r, p99, s, r, cpu/n } }' <<<"$out" >>"$raw"
		busy keepalive "$s" "$r" $((c1 - c0)) "$DURATION"
		;;
	full-rsa | full-ec | resumed)
		local port=${rsa_port[$s]} flags=() m=full_rsa
		[ "$w" = full-ec ] && port=${ec_port[$s]} pid=${ec_pid[$s]} m=full_ec
		[ "$w" = resumed ] && flags=(-resume) m=resumed
		out=$("${cli_run[@]}" "$tl" handshake -addr "127.0.0.1:$port" -c 16 -d "${DURATION}s" -max 200000 -pid "$pid" "${flags[@]}" 2>>"$errs")
		rec "${m}_hs" "$s" "$r" "$(kv rate "$out")"
		rec "${m}_cpu_us" "$s" "$r" "$(kv cpu_us_per_conn "$out")"
		busy "${m}" "$s" "$r" "$(kv cpu_us "$out")" "$(kv secs "$out")"
		[ "$(kv errors "$out")" = 0 ] || echo "$w $s round $r: $(kv errors "$out") failed connections" >>"$errs"
		if [ "$w" = resumed ] && [ $(($(kv resumed "$out") * 10)) -lt $(($(kv conns "$out") * 9)) ]; then
			echo "resumed $s round $r: only $(kv resumed "$out") of $(kv conns "$out") connections resumed" >>"$errs"
		fi
		echo "tlsload $w with $s: $(sed 's/.*version=//' <<<"$out")" >>"$work/negotiated"
		;;
	idle | idle-h2)
		# A fresh instance per run, ECDSA listener only: a process that has already held
		# thousands of connections keeps that memory (malloc arenas, Go heap) and would
		# show almost no growth. The memory of a connection does not depend on the key,
		# and 5,000 ECDSA handshakes take a second where RSA ones would take ten.
		# idle-h2: the same over HTTP/2 (ALPN h2, which every server here offers;
		# tlsload fails if one does not pick it).
		local pi ph name=${w//-/}_${s}_$r flags=() m=idle_kib
		[ "$w" = idle-h2 ] && flags=(-h2) m=idle_h2_kib
		read -r pi ph < <("$tl" ports 2)
		case $s in
		nginx) start_nginx "$name" - "$pi" ;;
		haproxy) start_haproxy "$name" - "$pi" ;;
		caddy) start_caddy "$name" - "$pi" ;;
		jksproxy) start_jksproxy "$name" ec "$pi" "$ph" ;;
		esac
		ready "$s" "$pi"
		pid=PID_$name
		out=$("${cli_run[@]}" "$tl" idle -addr "127.0.0.1:$pi" -n "$IDLE_CONNS" -c 32 -pid "${!pid}" -settle 1s -timeout 60s "${flags[@]}" 2>>"$errs") ||
			echo "$w $s round $r: failed" >>"$errs"
		stop "$name"
		[ -n "$out" ] && rec "$m" "$s" "$r" "$(awk -v b="$(kv bytes_per_conn "$out")" 'BEGIN{printf "%.2f", b/1024}')"
		[ -n "$out" ] && echo "tlsload $w with $s: ALPN $(kv alpn "$out")" >>"$work/negotiated"
		;;
	h2)
		c0=$(cpu "$pid")
		out=$("${cli_run[@]}" h2load -D "$DURATION" -c 32 -m 10 -t 1 "$url" 2>&1) || true
		c1=$(cpu "$pid")
		awk -v s="$s" -v r="$r" -v cpu=$((c1 - c0)) -v errs="$errs" '
			/^finished in/ { rps = $4 + 0 }
			/^requests:/ { ok = $8 + 0; failed = $10 + 0 }
			END { if (failed > 0) print "h2 " s " round " r ": " failed " failed requests" >> errs
				if (ok > 0) printf "h2_rps %s %s %s\nh2_cpu_us %s %s %.2f\n", s, r, rps, s, r, cpu/ok }' <<<"$out" >>"$raw"
		busy h2 "$s" "$r" $((c1 - c0)) "$DURATION"
		;;
	esac
}

workloads=()
for w in keepalive full-rsa full-ec resumed idle idle-h2 h2; do
	want "$w" || continue
	[ "$w" = h2 ] && [ "$H2" = no ] && continue
	workloads+=("$w")
done
[ ${#workloads[@]} -gt 0 ] || { echo "proxy.sh: no workload in --only $ONLY" >&2; exit 2; }

# Warm-up: one short keep-alive run per server, not recorded; and what an OpenSSL client
# (as wrk is) negotiates with each.
for s in "${servers[@]}"; do
	"${cli_run[@]}" wrk -t2 -c64 -d1s "https://127.0.0.1:${rsa_port[$s]}/" >/dev/null
	if command -v openssl >/dev/null; then
		openssl s_client -connect "127.0.0.1:${rsa_port[$s]}" -brief </dev/null 2>&1 |
			awk -v s="$s" '/Protocol version/ { v = $NF } /Ciphersuite/ { c = $NF } /Temp Key:/ { sub(/.*Temp Key: /, ""); g = $0 }
				END { print "OpenSSL client (as wrk) with " s ": " v " " c " " g }' >>"$work/negotiated"
	fi
done
# Interleaved: per round, per workload, every server in turn; the order of the servers
# rotates from round to round so that no server always runs first.
n=${#servers[@]}
for r in $(seq "$ROUNDS"); do
	for w in "${workloads[@]}"; do
		for i in $(seq 0 $((n - 1))); do
			s=${servers[$(((i + r - 1) % n))]}
			echo "proxy.sh: round $r/$ROUNDS $w $s" >&2
			run "$w" "$s" "$r"
		done
	done
done

# HTTP/2 conformance: h2spec (github.com/summerwind/h2spec, the release pinned below, built
# once from the Go module proxy into the cache directory .ci/run uses) against every server's
# RSA listener, after the timed rounds so that it loads none of them. A server that fails a
# test is not dropped from the tables above: the failures are listed below them. Only
# with the h2 workload (--only without it skips h2spec too).
H2SPEC_VERSION=v2.2.1
h2spec=$HOME/.cache/keybridge/bin/h2spec h2spec_skipped= conform=no
want h2 && conform=yes
if [ "$conform" = yes ] && [ "$H2" = yes ] && [ ! -x "$h2spec" ]; then
	(GOFLAGS= GOTOOLCHAIN=local GOBIN="$(dirname "$h2spec")" timeout 600 \
		go install "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_VERSION+incompatible") >"$work/h2spec-build.txt" 2>&1 ||
		h2spec_skipped="go install h2spec@$H2SPEC_VERSION failed: $(tail -1 "$work/h2spec-build.txt" | cut -c1-300)"
fi
[ "$H2" = yes ] || h2spec_skipped="no HTTP/2 client tools (nghttp2-client) here"
conformance=$work/h2spec.md
if [ "$conform" = yes ] && [ -z "$h2spec_skipped" ]; then
	for s in "${servers[@]}"; do
		echo "proxy.sh: h2spec $s" >&2
		# -t: TLS, -k: the test certificate is self-signed, -o 2: seconds a test waits for an answer.
		"$h2spec" -h 127.0.0.1 -p "${rsa_port[$s]}" -t -k -o 2 >"$work/h2spec-$s.txt" 2>&1 || true
		awk -v s="$s" '
			/tests, .* passed, .* skipped, .* failed/ { total = $1; passed = $3; failed = $7 }
			/^Failures:/ { inf = 1 }
			# The failure list: a group ("Generic tests ...", "Hypertext Transfer Protocol ...",
			# "HPACK: ..."), its sections ("  6.5.3. Settings Synchronization"), then
			# "    × 1: Sends ..."; named as h2spec names a test on its command line.
			inf && /^Generic/ { grp = "generic" } inf && /^Hypertext/ { grp = "http2" } inf && /^HPACK/ { grp = "hpack" }
			inf && /^  *[0-9]+(\.[0-9]+)*\. / { sec = $1; sub(/\.$/, "", sec) }
			inf && /×/ { n = $0; sub(/.*× */, "", n); sub(/:.*/, "", n); list = list (list == "" ? "" : ", ") grp "/" sec "/" n }
			END { if (total == "") print "| " s " | – | – | h2spec printed no summary |"
				else printf "| %s | %s / %s | %s | %s |\n", s, passed, total, failed, list == "" ? "–" : list }' \
			"$work/h2spec-$s.txt" >>"$conformance"
	done
fi

# --- report -------------------------------------------------------------------------------
pinning="servers on CPU 0, clients and backend on CPU 1; one worker each"
[ "$PIN" = yes ] || pinning="no pinning; $workers workers each"
versions="$(nginx -v 2>&1 | sed 's/.*nginx\//nginx /'), $(haproxy -v | awk 'NR == 1 { print "HAProxy " $3 }')"
serving caddy && versions+=", Caddy $("$caddy" version)"
versions+=", jksproxy $rev (built with $(go version | cut -d' ' -f3))"
title="### jksproxy vs nginx vs HAProxy"
serving caddy && title+=" vs Caddy"
echo "$title"
echo
echo "$ROUNDS rounds, workloads interleaved (every server in turn per workload, order rotated per round), ${DURATION} s per run; median (min–max); ratio of medians to nginx. $versions; $pinning; TLS 1.3 with AES-128-GCM and X25519 everywhere; 1 KiB responses from one backend (bench/backend) over keep-alive."
echo
args=(table -raw "$raw" -note "$(nproc) cores; $pinning; $ROUNDS rounds x ${DURATION}s; $(date -u +%Y-%m-%d)")
[ -n "$JSON" ] && args+=(-json "$JSON")
"$work/chart" "${args[@]}"
echo
echo "- keep-alive: \`wrk -t2 -c64 -d${DURATION}s --latency\` over HTTP/1.1; p99 from wrk's latency distribution."
echo "- CPU per request or connection: the server's utime+stime from /proc/PID/stat (nginx: master and workers) over the run, divided by the requests (or connections) completed."
echo "- handshakes: \`tlsload handshake -c 16\`: 16 loops of connect, TLS 1.3 handshake, one GET with Connection: close, close. \"No resumption\": the client keeps no session cache and refuses tickets, so every handshake is full whatever the server allows; \"resumed\": each loop resumes its previous session with a ticket (PSK with X25519), and only resumed connections are counted."
echo "- idle: a fresh server (ECDSA listener only) per run; \`tlsload idle\` opens $IDLE_CONNS TLS connections (full handshake, one keep-alive request each), holds them, checks they are all still open, and reads the server's RSS (nginx: master+workers) after 1 s; the RSS just before opening is subtracted."
echo "- idle HTTP/2: as idle, over HTTP/2 (\`tlsload idle -h2\`): ALPN h2, the client preface and SETTINGS, one GET / on stream 1 read to its end (the server's SETTINGS acknowledged, as a client does), then the connection held idle."
[ "$H2" = yes ] && echo "- HTTP/2: \`h2load -D $DURATION -c 32 -m 10 -t 1\`."
echo "- server CPU busy: the server's CPU time over the run ÷ (run time × its CPUs). The client and backend share the machine (see bench/proxy.sh for the pinning); other processes on the machine are not stopped, which is why the rounds interleave."
[ -z "$caddy_skipped" ] || echo "- Caddy: not measured; $caddy_skipped."
if [ "$conform" = no ]; then
	: # not asked for
elif [ -n "$h2spec_skipped" ]; then
	printf '\n### HTTP/2 conformance: h2spec %s\n\nNot run: %s.\n' "$H2SPEC_VERSION" "$h2spec_skipped"
else
	printf '\n### HTTP/2 conformance: h2spec %s\n\n' "$H2SPEC_VERSION"
	echo "\`h2spec -t -k -o 2\` against each server's RSA listener in this run, after the timed rounds (the same configuration as above)."
	echo
	echo "| server | passed | failed | failed tests (as h2spec names them: group/section/number) |"
	echo "|---|---:|---:|---|"
	cat "$conformance"
fi
if [ -s "$work/negotiated" ]; then
	echo
	echo "Negotiated (checked in this run):"
	echo
	sort -u "$work/negotiated" | sed 's/^/    /'
fi
if [ -s "$errs" ]; then
	echo
	echo "Errors during the run:"
	echo
	sed 's/^/    /' "$errs"
fi
