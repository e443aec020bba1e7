#!/usr/bin/env bash
# Load benchmark of the routewise gateway against the testkit mock upstream on loopback.
#
# For 1, 16 and 64 concurrent connections it measures, in one run, the same chat completion
# request sent directly to the mock and sent through `routewise serve` (config/examples/local.toml),
# and prints the p50 / p99 latency routewise adds, requests per second both ways, and
# routewise's peak RSS. Each cell is the median of REPEATS runs of DURATION each.
#
# Needs wrk (`apt-get install wrk`). Usage: bench/load.sh   (env: DURATION=5s REPEATS=3)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
REPEATS=${REPEATS:-3}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:18000}
ROUTEWISE_ADDR=${ROUTEWISE_ADDR:-127.0.0.1:18080}

command -v wrk >/dev/null || { echo "bench/load.sh needs wrk: apt-get install wrk" >&2; exit 1; }
cargo build --release -j 2 -p routewise -p routewise-testkit --bins >&2

target/release/routewise-mock-upstream "$MOCK_ADDR" >/dev/null &
MOCK_PID=$!
ROUTEWISE_UPSTREAM_URL="http://$MOCK_ADDR/v1" ROUTEWISE_LISTEN="$ROUTEWISE_ADDR" RUST_LOG=warn \
  target/release/routewise serve --config config/examples/local.toml >/dev/null &
ROUTEWISE_PID=$!
trap 'kill "$MOCK_PID" "$ROUTEWISE_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  curl -fs "http://$ROUTEWISE_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$ROUTEWISE_ADDR/readyz" >/dev/null || { echo "routewise did not start" >&2; exit 1; }

# Prints "p50_us p99_us requests_per_second" for one wrk run.
measure() {
  local url=$1 connections=$2 threads=$(( $2 < 2 ? 1 : 2 ))
  wrk -t "$threads" -c "$connections" -d "$DURATION" --latency -s bench/chat.lua "$url" | awk '
    function us(v) {
      if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
      if (v ~ /s$/) return v * 1000000; return v + 0 }
    $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) }
    $1 == "Requests/sec:" { rps = $2 }
    $0 ~ /Non-2xx/ { bad = 1 }
    END { if (bad) print "error: non-2xx responses" > "/dev/stderr"; printf "%.1f %.1f %.0f\n", p50, p99, rps }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Warm up connection pools and caches.
wrk -t 1 -c 4 -d 1s -s bench/chat.lua "http://$MOCK_ADDR/v1/chat/completions" >/dev/null
wrk -t 1 -c 4 -d 1s -s bench/chat.lua "http://$ROUTEWISE_ADDR/v1/chat/completions" >/dev/null

printf '%-6s %12s %12s %12s %12s %12s %12s %10s %10s\n' conns direct_p50 direct_p99 \
  routed_p50 routed_p99 added_p50 added_p99 direct_rps routed_rps
for c in $CONNECTIONS; do
  : >/tmp/routewise-bench-direct >/tmp/routewise-bench-routed
  for _ in $(seq 1 "$REPEATS"); do
    measure "http://$MOCK_ADDR/v1/chat/completions" "$c" >>/tmp/routewise-bench-direct
    measure "http://$ROUTEWISE_ADDR/v1/chat/completions" "$c" >>/tmp/routewise-bench-routed
  done
  col() { awk -v k="$2" '{ print $k }' "$1" | median; }
  dp50=$(col /tmp/routewise-bench-direct 1); dp99=$(col /tmp/routewise-bench-direct 2)
  rp50=$(col /tmp/routewise-bench-routed 1); rp99=$(col /tmp/routewise-bench-routed 2)
  drps=$(col /tmp/routewise-bench-direct 3); rrps=$(col /tmp/routewise-bench-routed 3)
  awk -v c="$c" -v dp50="$dp50" -v dp99="$dp99" -v rp50="$rp50" -v rp99="$rp99" \
      -v drps="$drps" -v rrps="$rrps" 'BEGIN {
    printf "%-6s %10.0fus %10.0fus %10.0fus %10.0fus %10.0fus %10.0fus %10.0f %10.0f\n",
      c, dp50, dp99, rp50, rp99, rp50 - dp50, rp99 - dp99, drps, rrps }'
done
rm -f /tmp/routewise-bench-direct /tmp/routewise-bench-routed
echo "routewise peak RSS: $(awk '/VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$ROUTEWISE_PID/status")"
