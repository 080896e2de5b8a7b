#!/usr/bin/env bash
# Load test on loopback, in one go: the upstream alone, Caddy with a bare
# reverse_proxy to it, and the gateway in front of the same upstream (ES384
# and ES256). Prints req/s, p50/p99 latency and the server's CPU time per
# request for each, and the ratio
#   gateway CPU per request / (bare proxy CPU per request + one verification)
# where one verification is crypto/ecdsa's, measured in the same run.
#
# Usage: bench/load.sh [seconds per run, default 10] [connections, default 8]
#                      [rounds, default 5]
# This machine's speed drifts by 20% or more from one minute to the next, so
# the bare proxy, the gateway and the verification are measured in rounds,
# one after the other, each round gives its own ratios, and the median round
# is the result.
#
# A bare proxy spends more CPU per request at a lower request rate, and the
# gateway runs at the rate its verifications allow. So each round also
# measures the floor (bench/floorcaddy): Caddy doing one bare verification
# per request and then the same reverse_proxy, which runs at the gateway's
# rate by construction, and prints gateway / floor, the gateway's own cost
# measured like for like: once with the two run one after the other, and
# once with both driven at the same time, which cancels the machine's drift.
# The floor is also driven at the same time as its twin, a second process
# of the same server: that ratio would be 1 on a perfect machine, and its
# spread is what a paired ratio can resolve. The bare proxy is also measured paced, with hey,
# at the gateway's rate, and with wrk on 2 and 1 connections.
#
# With PROFILE_DIR set, each server's CPU profile is also taken during every
# run and saved there, and the CPU per request is split, from the profile,
# into system calls, the Go scheduler, allocation and garbage collection.
#
# Needs Go and python3 (curl too for PROFILE_DIR); installs wrk and hey
# from Debian's packages if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-8}
rounds=${3:-5}
profile_dir=${PROFILE_DIR:-}
[ -z "$profile_dir" ] || mkdir -p "$profile_dir"

if ! command -v wrk >/dev/null || ! command -v hey >/dev/null; then
	echo "installing wrk and hey" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk hey >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/floorcaddy" ./bench/floorcaddy
go test -c -o "$work/bench.test" ./caddymodule
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port)
proxy_port=$(free_port)
gateway_port=$(free_port)
floor384_port=$(free_port)
floor256_port=$(free_port)
twin384_port=$(free_port)
twin256_port=$(free_port)

# Each server is its own process, so that its CPU time is its own. Its admin
# endpoint, which serves /debug/pprof, is on only when profiling.
start() { # name, Caddyfile body[, binary]
	local admin=off binary=${3:-$work/caddy}
	if [ -n "$profile_dir" ]; then
		admin=127.0.0.1:$(free_port)
		eval "${1}_admin=$admin"
	fi
	printf '{\n\tadmin %s\n\tpersist_config off\n\tauto_https off\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n%s\n' "$admin" "$2" >"$work/$1.Caddyfile"
	HOME="$work" "$binary" run --adapter caddyfile --config "$work/$1.Caddyfile" >"$work/$1.log" 2>&1 &
	pids+=($!)
	eval "${1}_pid=$!"
}
start upstream "http://127.0.0.1:$upstream_port {
	header Content-Type application/json
	respond \`{\"HostedURL\":\"https://checkout.sandbox.invalid/manage/1\"}\` 200
}"
start proxy "http://127.0.0.1:$proxy_port {
	reverse_proxy 127.0.0.1:$upstream_port
}"
start gateway "http://127.0.0.1:$gateway_port {
	checkout_gateway {
		jwks_file $PWD/examples/keys/demo.jwks.json
	}
	reverse_proxy 127.0.0.1:$upstream_port
}"
# The floor: one verification per request of the request's own token over
# its own signing input, then the same proxy; its runs send the gateway runs'
# signed requests, which it passes on as they are (bench/floorcaddy).
# Nothing can do the gateway's job for less. The key file is named
# relative to this folder: an argument starting with / would be taken for a
# path matcher.
floor_sites() { # ES384 port, ES256 port
	local alg port
	for alg in 384 256; do
		port=$1
		shift
		printf 'http://127.0.0.1:%s {\n\troute {\n\t\tverification_floor examples/keys/demo.jwks.json demo-es%s\n\t\treverse_proxy 127.0.0.1:%s\n\t}\n}\n' "$port" "$alg" "$upstream_port"
	done
}
start floor "$(floor_sites "$floor384_port" "$floor256_port")" "$work/floorcaddy"
# The floor's twin, a second process of the same server: driven at the same
# time as the floor, it shows what the paired measure reads when the two
# servers do exactly the same work, its bias and spread on this machine.
start twin "$(floor_sites "$twin384_port" "$twin256_port")" "$work/floorcaddy"
for port in $upstream_port $proxy_port $gateway_port $floor384_port $floor256_port $twin384_port $twin256_port; do
	for _ in $(seq 50); do
		(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
		sleep 0.2
	done
done

body=examples/create_managed_session.json
token() { # private key file, port
	"$work/caddy" checkout sign --key "$1" --url "http://127.0.0.1:$2/checkout/manage" --body "$body"
}
# Requests carry what Go's own HTTP client sends besides, as integrators'
# clients do: a User-Agent and Accept-Encoding. With wrk's bare three
# headers, the floor's request and the five reverse_proxy adds (a blank
# User-Agent, X-Forwarded-*, Via) fill Go's smallest map exactly, and the
# gateway's X-Checkout-Key-ID alone made that clone grow: 2 to 3 µs under
# load that the requests of common clients (Go's, curl's), two headers
# longer, pay on both sides.
lua() { # token
	cat <<EOF
wrk.method = "POST"
wrk.body = io.open("$body", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Api-Signature"] = "$1"
wrk.headers["User-Agent"] = "Go-http-client/1.1"
wrk.headers["Accept-Encoding"] = "gzip"
EOF
}
lua "" >"$work/plain.lua"
# Tokens live 5 minutes, so they are signed again before every round.
sign_requests() {
	lua "$(token examples/keys/demo-es384.private.jwk.json "$gateway_port")" >"$work/es384.lua"
	lua "$(token examples/keys/demo-es256.private.jwk.json "$gateway_port")" >"$work/es256.lua"
}
# Signed for another path: refused before any verification, so this run
# shows what the gateway costs besides the signature check and the proxy.
lua "$("$work/caddy" checkout sign --key examples/keys/demo-es384.private.jwk.json --url "http://127.0.0.1:$gateway_port/v1/checkout/manage" --body "$body")" >"$work/refused.lua"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# profile_start NAME SERVER: when profiling, fetch SERVER's CPU profile for
# the coming run in the background.
profile_start() {
	[ -n "$profile_dir" ] || return 0
	local admin
	admin=$(eval echo "\$${2}_admin")
	curl -sf -o "$profile_dir/$1.pprof" "http://$admin/debug/pprof/profile?seconds=$((duration - 1))" &
	profile_pid=$!
}

# profile_parts NAME CPU_US: the µs per request the profile puts in system
# calls, the Go scheduler (finding work, parking and waking threads),
# allocation and background garbage collection.
profile_parts() {
	[ -n "${profile_pid:-}" ] || return 0 # not profiling, or not this run
	wait "$profile_pid"
	go tool pprof -top -cum "$profile_dir/$1.pprof" 2>/dev/null | awk -v cpu="$2" '
		$6 == "internal/runtime/syscall/linux.Syscall6" { sys = $2 }
		$6 == "runtime.schedule" || $6 == "runtime.wakep" { sched += $5 }
		$6 == "runtime.mallocgc" { alloc = $5 }
		$6 == "runtime.gcBgMarkWorker" { gc = $5 }
		END { f = cpu / 100; printf "%6.1f %6.1f %6.1f %6.1f", sys * f, sched * f, alloc * f, gc * f }'
}

# report NAME CPU_TICKS REQUESTS RPS P50 P99 NON2XX: one row, and NAME_cpu
# set to the server's CPU microseconds per request.
report() {
	local cpu_us
	cpu_us=$(awk -v t="$2" -v hz="$ticks_per_second" -v n="$3" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	printf '%-22s %10s %9s %9s %14s %8s  %s\n' "$1" "$4" "$5" "$6" "$cpu_us" "${7:-0}" "$(profile_parts "$1" "$cpu_us")"
	profile_pid=
	eval "${1//-/_}_cpu=$cpu_us"
}

# run NAME PID PORT LUA SERVER [CONNECTIONS]: one wrk run, the server's CPU
# time around it.
run() {
	local name=$1 pid=$2 port=$3 script=$4 c=${6:-$connections} before
	wrk -t1 -c"$c" -d2s -s "$script" "http://127.0.0.1:$port/checkout/manage" >/dev/null # warm-up
	profile_start "$name" "$5"
	before=$(cpu_ticks "$pid")
	wrk -t1 -c"$c" -d"${duration}s" --latency -s "$script" "http://127.0.0.1:$port/checkout/manage" >"$work/$name.wrk"
	report_wrk "$name" $(($(cpu_ticks "$pid") - before))
}

# report_wrk NAME CPU_TICKS: report a run from its wrk output.
report_wrk() {
	local out="$work/$1.wrk" non2xx
	non2xx=$(awk '/Non-2xx/ {print $5}' "$out")
	if [ -n "$non2xx" ] && [[ $1 != *refused* ]]; then
		echo "$1: $non2xx answers were not 2xx, so its figures would not be the accepted path's" >&2
		exit 1
	fi
	report "$1" "$2" \
		"$(awk '/requests in/ {print $1}' "$out")" "$(awk '/Requests\/sec/ {print $2}' "$out")" \
		"$(awk '$1 == "50%" {print $2}' "$out")" "$(awk '$1 == "99%" {print $2}' "$out")" \
		"$(awk '/Non-2xx/ {print $5}' "$out")"
}

# paired ALG LUA SERVER PORT FLOOR_PORT: SERVER (gateway or twin) and the
# floor driven at the same time, half the connections each, so that
# whatever the machine does meanwhile weighs on both alike; the ratio of
# their CPU per request is the steadiest measure of what the gateway adds.
paired() {
	local s="$3-$1-paired" f="floor-$1-paired-with-$3" c=$(((connections + 1) / 2)) s0 f0 wrk_pid server_pid
	server_pid=$(eval echo "\$${3}_pid")
	# Warm-up: a process's first seconds (small heap, new connections) cost
	# more per request, and the twin has no run of its own.
	wrk -t1 -c"$c" -d2s -s "$2" "http://127.0.0.1:$4/checkout/manage" >/dev/null
	s0=$(cpu_ticks "$server_pid") f0=$(cpu_ticks "$floor_pid")
	wrk -t1 -c"$c" -d"${duration}s" --latency -s "$2" "http://127.0.0.1:$4/checkout/manage" >"$work/$s.wrk" &
	wrk_pid=$!
	wrk -t1 -c"$c" -d"${duration}s" --latency -s "$2" "http://127.0.0.1:$5/checkout/manage" >"$work/$f.wrk"
	wait "$wrk_pid"
	report_wrk "$s" $(($(cpu_ticks "$server_pid") - s0))
	report_wrk "$f" $(($(cpu_ticks "$floor_pid") - f0))
}

# paced NAME PID PORT RATE: the bare proxy held to RATE req/s with hey.
paced() {
	local name=$1 pid=$2 port=$3 out="$work/$1.hey" before per_worker
	per_worker=$(awk -v r="$4" -v c="$connections" 'BEGIN {printf "%.0f", r / c}')
	profile_start "$name" proxy
	before=$(cpu_ticks "$pid")
	hey -z "${duration}s" -c "$connections" -q "$per_worker" -m POST -T application/json -D "$body" "http://127.0.0.1:$port/checkout/manage" >"$out"
	report "$name" $(($(cpu_ticks "$pid") - before)) \
		"$(awk '/\[200\]/ {print $2}' "$out")" "$(awk '/Requests\/sec/ {print $2}' "$out")" \
		"$(awk '$1 == "50%" {print $3 * 1000 "ms"}' "$out")" "$(awk '$1 == "99%" {print $3 * 1000 "ms"}' "$out")"
}

# measure_verification: one bare crypto/ecdsa verification per curve, alone
# and with every core verifying at once (as in a loaded server), added to
# verify.txt; verification_us sets verify384, verify256, pverify384 and
# pverify256 to the mean, in µs, of what verify.txt holds.
measure_verification() {
	# A test binary runs in its package's folder, as go test runs it.
	(cd caddymodule && "$work/bench.test" -test.run '^$' -test.bench 'BareVerify' -test.benchtime 2000x) | grep -a '^Benchmark' >>"$work/verify.txt"
}
verification_us() {
	us() { awk -v name="$1" -v col="$2" '$1 ~ name { sum += $col; n++ } END { printf "%.1f", sum / n / 1000 }' "$work/verify.txt"; }
	verify384=$(us 'BareVerifyES384' 3) verify256=$(us 'BareVerifyES256' 3)
	pverify384=$(us 'BareVerifyParallelES384' 5) pverify256=$(us 'BareVerifyParallelES256' 5)
}

header() {
	printf '%-22s %10s %9s %9s %14s %8s  %s\n' target req/s p50 p99 "cpu µs/req" non-2xx "${profile_dir:+   sys  sched  alloc     gc (µs/req)}"
}

# ratio GATEWAY_CPU PROXY_CPU VERIFICATION: gateway / (proxy + verification).
ratio() { awk -v g="$1" -v p="$2" -v v="$3" 'BEGIN { printf "%.3f", g / (p + v) }'; }

for round in $(seq "$rounds"); do
	echo "== round $round of $rounds"
	sign_requests
	rm -f "$work/verify.txt"
	header
	measure_verification # before and after the runs: the mean is the baseline
	run bare-proxy "$proxy_pid" "$proxy_port" "$work/plain.lua" proxy
	run floor-ES384 "$floor_pid" "$floor384_port" "$work/es384.lua" floor
	run gateway-ES384 "$gateway_pid" "$gateway_port" "$work/es384.lua" gateway
	run floor-ES256 "$floor_pid" "$floor256_port" "$work/es256.lua" floor
	run gateway-ES256 "$gateway_pid" "$gateway_port" "$work/es256.lua" gateway
	paired ES384 "$work/es384.lua" gateway "$gateway_port" "$floor384_port"
	paired ES256 "$work/es256.lua" gateway "$gateway_port" "$floor256_port"
	paired ES384 "$work/es384.lua" twin "$twin384_port" "$floor384_port"
	paired ES256 "$work/es256.lua" twin "$twin256_port" "$floor256_port"
	measure_verification
	verification_us
	echo "one verification: ES384 $verify384 µs, ES256 $verify256 µs alone; $pverify384 and $pverify256 µs with every core verifying"
	r384=$(ratio "$gateway_ES384_cpu" "$bare_proxy_cpu" "$verify384")
	r256=$(ratio "$gateway_ES256_cpu" "$bare_proxy_cpu" "$verify256")
	f384=$(ratio "$gateway_ES384_cpu" "$floor_ES384_cpu" 0)
	f256=$(ratio "$gateway_ES256_cpu" "$floor_ES256_cpu" 0)
	p384=$(ratio "$gateway_ES384_paired_cpu" "$floor_ES384_paired_with_gateway_cpu" 0)
	p256=$(ratio "$gateway_ES256_paired_cpu" "$floor_ES256_paired_with_gateway_cpu" 0)
	t384=$(ratio "$twin_ES384_paired_cpu" "$floor_ES384_paired_with_twin_cpu" 0)
	t256=$(ratio "$twin_ES256_paired_cpu" "$floor_ES256_paired_with_twin_cpu" 0)
	b384=$(ratio "$floor_ES384_cpu" "$bare_proxy_cpu" "$verify384")
	b256=$(ratio "$floor_ES256_cpu" "$bare_proxy_cpu" "$verify256")
	echo "gateway / (bare proxy + verification): ES384 $r384 (goal <= 1.08), ES256 $r256 (goal <= 1.25)"
	echo "gateway / floor, one after the other:  ES384 $f384, ES256 $f256"
	echo "gateway / floor, at the same time:     ES384 $p384, ES256 $p256"
	echo "twin / floor, at the same time:        ES384 $t384, ES256 $t256 (the same server twice)"
	echo "floor / (bare proxy + verification):   ES384 $b384, ES256 $b256"
	echo "$r384 $r256 $f384 $f256 $p384 $p256 $b384 $b256 $t384 $t256" >>"$work/ratios"
	echo
done
median() { # column of the ratios file
	cut -d' ' -f"$1" "$work/ratios" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "median of $rounds rounds:"
echo "gateway / (bare proxy + verification): ES384 $(median 1) (goal <= 1.08), ES256 $(median 2) (goal <= 1.25)"
spread() { # column of the ratios file: its lowest and highest round
	cut -d' ' -f"$1" "$work/ratios" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s to %s", lo, hi }'
}
echo "gateway / floor, one after the other:  ES384 $(median 3) ($(spread 3)), ES256 $(median 4) ($(spread 4))"
echo "gateway / floor, at the same time:     ES384 $(median 5) ($(spread 5)) (goal <= 1.02), ES256 $(median 6) ($(spread 6)) (goal <= 1.05)"
echo "twin / floor, at the same time:        ES384 $(median 9) ($(spread 9)), ES256 $(median 10) ($(spread 10)) (the same server twice)"
echo "floor / (bare proxy + verification):   ES384 $(median 7), ES256 $(median 8)"
echo

echo "== the same proxy at the gateway's rates, and the rest"
sign_requests
header
run upstream "$upstream_pid" "$upstream_port" "$work/plain.lua" upstream
run gateway-refused "$gateway_pid" "$gateway_port" "$work/refused.lua" gateway
paced proxy-at-ES384 "$proxy_pid" "$proxy_port" "$(awk '/Requests\/sec/ {print $2}' "$work/gateway-ES384.wrk")"
paced proxy-at-ES256 "$proxy_pid" "$proxy_port" "$(awk '/Requests\/sec/ {print $2}' "$work/gateway-ES256.wrk")"
run bare-proxy-c2 "$proxy_pid" "$proxy_port" "$work/plain.lua" proxy 2
run bare-proxy-c1 "$proxy_pid" "$proxy_port" "$work/plain.lua" proxy 1
echo "last round, with the bare proxy paced to the gateway's rate instead: ES384 $(ratio "$gateway_ES384_cpu" "$proxy_at_ES384_cpu" "$verify384"), ES256 $(ratio "$gateway_ES256_cpu" "$proxy_at_ES256_cpu" "$verify256")"
