#!/usr/bin/env bash
# Load test on loopback, in one go: the upstream alone, Caddy with a bare
# reverse_proxy to it, and the gateway in front of the same upstream (ES384
# and ES256). Prints req/s, p50/p99 latency and the server's CPU time per
# request for each, and the ratio
#   gateway CPU per request / (bare proxy CPU per request + one verification)
# where one verification is crypto/ecdsa's, measured in the same run.
#
# Usage: bench/load.sh [seconds per run, default 10] [connections, default 8]
# A bare proxy spends more CPU per request at a lower request rate (the Go
# scheduler idles and wakes more per request), so the bare proxy is also
# measured paced, with hey, at the rate the gateway reached: the like-for-like
# baseline, printed next to the unpaced one.
#
# Needs Go; installs wrk and hey from Debian's packages if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-8}

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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port)
proxy_port=$(free_port)
gateway_port=$(free_port)

# Each server is its own process, so that its CPU time is its own.
start() { # name, Caddyfile body
	printf '{\n\tadmin off\n\tpersist_config off\n\tauto_https off\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n%s\n' "$2" >"$work/$1.Caddyfile"
	HOME="$work" "$work/caddy" run --adapter caddyfile --config "$work/$1.Caddyfile" >"$work/$1.log" 2>&1 &
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
for port in $upstream_port $proxy_port $gateway_port; do
	for _ in $(seq 50); do
		(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
		sleep 0.2
	done
done

body=examples/create_managed_session.json
token() { # private key file, port
	"$work/caddy" checkout sign --key "$1" --url "http://127.0.0.1:$2/checkout/manage" --body "$body"
}
lua() { # token
	cat <<EOF
wrk.method = "POST"
wrk.body = io.open("$body", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Api-Signature"] = "$1"
EOF
}
lua "" >"$work/plain.lua"
lua "$(token examples/keys/demo-es384.private.jwk.json "$gateway_port")" >"$work/es384.lua"
lua "$(token examples/keys/demo-es256.private.jwk.json "$gateway_port")" >"$work/es256.lua"
# Signed for another path: refused before any verification, so this run
# shows what the gateway costs besides the signature check and the proxy.
lua "$("$work/caddy" checkout sign --key examples/keys/demo-es384.private.jwk.json --url "http://127.0.0.1:$gateway_port/v1/checkout/manage" --body "$body")" >"$work/refused.lua"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# report NAME CPU_TICKS REQUESTS RPS P50 P99 NON2XX: one row, and NAME_cpu
# set to the server's CPU microseconds per request.
report() {
	local cpu_us
	cpu_us=$(awk -v t="$2" -v hz="$ticks_per_second" -v n="$3" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	printf '%-16s %10s %9s %9s %14s %8s\n' "$1" "$4" "$5" "$6" "$cpu_us" "${7:-0}"
	eval "${1//-/_}_cpu=$cpu_us"
}

# run NAME PID PORT LUA: one wrk run, the server's CPU time around it.
run() {
	local name=$1 pid=$2 port=$3 script=$4 out="$work/$1.wrk" before
	wrk -t1 -c"$connections" -d2s -s "$script" "http://127.0.0.1:$port/checkout/manage" >/dev/null # warm-up
	before=$(cpu_ticks "$pid")
	wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$script" "http://127.0.0.1:$port/checkout/manage" >"$out"
	report "$name" $(($(cpu_ticks "$pid") - before)) \
		"$(awk '/requests in/ {print $1}' "$out")" "$(awk '/Requests\/sec/ {print $2}' "$out")" \
		"$(awk '$1 == "50%" {print $2}' "$out")" "$(awk '$1 == "99%" {print $2}' "$out")" \
		"$(awk '/Non-2xx/ {print $5}' "$out")"
}

# paced NAME PID PORT RATE: the bare proxy held to RATE req/s with hey.
paced() {
	local name=$1 pid=$2 port=$3 out="$work/$1.hey" before per_worker
	per_worker=$(awk -v r="$4" -v c="$connections" 'BEGIN {printf "%.0f", r / c}')
	before=$(cpu_ticks "$pid")
	hey -z "${duration}s" -c "$connections" -q "$per_worker" -m POST -T application/json -D "$body" "http://127.0.0.1:$port/checkout/manage" >"$out"
	report "$name" $(($(cpu_ticks "$pid") - before)) \
		"$(awk '/\[200\]/ {print $2}' "$out")" "$(awk '/Requests\/sec/ {print $2}' "$out")" \
		"$(awk '$1 == "50%" {print $3 * 1000 "ms"}' "$out")" "$(awk '$1 == "99%" {print $3 * 1000 "ms"}' "$out")"
}

echo "one verification, crypto/ecdsa, same machine, same run:"
go test -run '^$' -bench 'BareVerify' -benchtime 2000x ./caddymodule | tee "$work/verify.txt" | grep -a '^Benchmark'
verify384=$(awk '/BareVerifyES384/ {printf "%.1f", $3 / 1000}' "$work/verify.txt")
verify256=$(awk '/BareVerifyES256/ {printf "%.1f", $3 / 1000}' "$work/verify.txt")
# The same, with every core verifying at once, as in a loaded server.
pverify384=$(awk '/BareVerifyParallelES384/ {printf "%.1f", $5 / 1000}' "$work/verify.txt")
pverify256=$(awk '/BareVerifyParallelES256/ {printf "%.1f", $5 / 1000}' "$work/verify.txt")
echo
printf '%-16s %10s %9s %9s %14s %8s\n' target req/s p50 p99 "cpu µs/req" non-2xx
run upstream "$upstream_pid" "$upstream_port" "$work/plain.lua"
run bare-proxy "$proxy_pid" "$proxy_port" "$work/plain.lua"
run gateway-ES384 "$gateway_pid" "$gateway_port" "$work/es384.lua"
run gateway-ES256 "$gateway_pid" "$gateway_port" "$work/es256.lua"
run gateway-refused "$gateway_pid" "$gateway_port" "$work/refused.lua"
paced proxy-at-ES384 "$proxy_pid" "$proxy_port" "$(awk '/Requests\/sec/ {print $2}' "$work/gateway-ES384.wrk")"
paced proxy-at-ES256 "$proxy_pid" "$proxy_port" "$(awk '/Requests\/sec/ {print $2}' "$work/gateway-ES256.wrk")"
echo
ratio() { # alg, gateway cpu, verification, parallel verification, paced proxy cpu, goal
	awk -v a="$1" -v g="$2" -v p="$bare_proxy_cpu" -v v="$3" -v pv="$4" -v pp="$5" -v goal="$6" 'BEGIN {
		printf "%s: gateway %.1f µs / (bare proxy %.1f + verification %.1f) = %.3f  (goal <= %s)\n", a, g, p, v, g / (p + v), goal
		printf "%s:   bare proxy paced to the gateway'"'"'s rate (%.1f µs): %.3f\n", a, pp, g / (pp + v)
		printf "%s:   and the verification measured on all cores at once (%.1f µs): %.3f\n", a, pv, g / (pp + pv)
	}'
}
ratio ES384 "$gateway_ES384_cpu" "$verify384" "$pverify384" "$proxy_at_ES384_cpu" 1.08
ratio ES256 "$gateway_ES256_cpu" "$verify256" "$pverify256" "$proxy_at_ES256_cpu" 1.25
