#!/usr/bin/env bash
# Load benchmark of the routewise gateway against the testkit mock upstream on loopback.
#
# It starts `routewise-mock-upstream` and `routewise serve` (config/examples/local.toml) and, for
# each number of connections, sends the same chat completion request (bench/chat.lua) to the mock
# directly and through routewise, alternating the two in one run. Two sections:
#
#   closed  wrk, closed loop: every connection sends its next request as soon as the last one
#           is answered, so the machine saturates. Gives throughput (req/s); its p99s are
#           queueing delay, not overhead.
#   open    oha at a fixed rate (RATE, default 1,000 req/s) with --latency-correction, so a
#           late request counts from when it should have been sent. Gives the latency routewise
#           adds at a given load (docs/DESIGN.md: p99 added < 1 ms at 1,000 req/s).
#
# Each cell is the median of REPEATS runs; "added" is routed minus direct. The last line is
# routewise's peak RSS.
#
# Fairness on a shared 2-core machine: the load generator, the mock and routewise compete for the
# same cores with whatever else runs (builds), and a request through routewise needs three
# processes scheduled where a direct one needs two, so background work inflates the routed p99
# more than the direct one. For the open-loop section the three run as SCHED_FIFO (OPEN_RT, needs
# root or CAP_SYS_NICE; empty to turn off), so a woken server preempts background work at once;
# at 1,000 req/s they use a fraction of a core, and the kernel keeps 5% for everything else.
# The closed-loop section saturates the machine and runs at normal priority. LOAD_CPUS and
# SERVER_CPUS optionally pin the load generator and the servers with taskset (default unpinned:
# pinning did not lower the p99s here).
#
# Needs wrk (`apt-get install wrk`), oha (`cargo install oha --locked`), python3, curl, chrt and
# taskset (util-linux). Takes about 2 x REPEATS x (DURATION + OPEN_DURATION) per connection count.
# Usage: bench/load.sh
#   env: SECTIONS="closed open" CONNECTIONS="1 16 64" REPEATS=3 DURATION=5s (closed)
#        RATE=1000 OPEN_DURATION=8s OPEN_RT=10 (open) LOAD_CPUS= SERVER_CPUS=
#
# Figures (docs/SERVE.md, section "Overhead", has the full table and how to read it), 2-core
# machine with other builds running (load average ~9), routewise peak RSS 93 MB (a second run:
# open added p99 1224 / 297 / 585 us for 1 / 16 / 64 connections, RSS 91.7 MB):
#
#   section    conns | direct p50/p99   | routed p50/p99    | added p50/p99     | req/s direct/routed
#   open 1000  1     | 139/342 us       | 317/1337 us       | 178/995 us        | 1,000/1,000
#   open 1000  16    | 196/426 us       | 496/1126 us       | 300/700 us        | 1,000/1,000
#   open 1000  64    | 190/466 us       | 514/979 us        | 324/512 us        | 1,000/1,000
#   closed     1     | 71/8390 us       | 273/5350 us       | 202/-3040 us      | 12,715/3,304
#   closed     16    | 483/17120 us     | 2600/23900 us     | 2117/6780 us      | 20,843/4,338
#   closed     64    | 2330/22100 us    | 13080/53110 us    | 10750/31010 us    | 22,281/4,361
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SECTIONS=${SECTIONS:-"closed open"}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
REPEATS=${REPEATS:-3}
DURATION=${DURATION:-5s}
RATE=${RATE:-1000}
OPEN_DURATION=${OPEN_DURATION:-8s}
OPEN_RT=${OPEN_RT-10}
LOAD_CPUS=${LOAD_CPUS-}
SERVER_CPUS=${SERVER_CPUS-}
MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:18000}
ROUTEWISE_ADDR=${ROUTEWISE_ADDR:-127.0.0.1:18080}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

die() { echo "bench/load.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "needs $1: $2"; }
need curl "apt-get install curl"
need timeout "apt-get install coreutils"
need python3 "apt-get install python3"
[[ " $SECTIONS " == *" closed "* ]] && need wrk "apt-get install wrk"
[[ " $SECTIONS " == *" open "* ]] && need oha "cargo install oha --locked"
[[ -n "$LOAD_CPUS$SERVER_CPUS" ]] && need taskset "apt-get install util-linux"
if [[ -n $OPEN_RT ]]; then
  need chrt "apt-get install util-linux"
  chrt -f "$OPEN_RT" true 2>/dev/null || {
    echo "bench/load.sh: cannot use SCHED_FIFO (needs root or CAP_SYS_NICE); open loop runs at normal priority" >&2
    OPEN_RT=
  }
fi
seconds() { [[ $1 =~ ^([0-9]+)s$ ]] || die "durations are whole seconds like 5s, not '$1'"; echo "${BASH_REMATCH[1]}"; }
closed_secs=$(seconds "$DURATION")
open_secs=$(seconds "$OPEN_DURATION")

# Command prefixes that pin to a CPU list (taskset execs, so $! stays the server's pid).
LOAD_PIN=(); SERVER_PIN=()
[[ -n $LOAD_CPUS ]] && LOAD_PIN=(taskset -c "$LOAD_CPUS")
[[ -n $SERVER_CPUS ]] && SERVER_PIN=(taskset -c "$SERVER_CPUS")

cargo build --release -j 2 -p routewise -p routewise-testkit --bins >&2

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${SERVER_PIN[@]}" "$TARGET_DIR/release/routewise-mock-upstream" "$MOCK_ADDR" >/dev/null &
PIDS+=($!)
ROUTEWISE_UPSTREAM_URL="http://$MOCK_ADDR/v1" ROUTEWISE_LISTEN="$ROUTEWISE_ADDR" RUST_LOG=warn \
  "${SERVER_PIN[@]}" "$TARGET_DIR/release/routewise" serve --config config/examples/local.toml \
  >/dev/null &
ROUTEWISE_PID=$!
PIDS+=("$ROUTEWISE_PID")

for _ in $(seq 1 100); do
  curl -fs "http://$ROUTEWISE_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$ROUTEWISE_ADDR/readyz" >/dev/null || die "routewise did not start"

# The request of bench/chat.lua, for oha.
BODY=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/chat.lua | sed "s/\\\\'/'/g")
DIRECT="http://$MOCK_ADDR/v1/chat/completions"
ROUTED="http://$ROUTEWISE_ADDR/v1/chat/completions"
curl -fs -o /dev/null -H 'Content-Type: application/json' -d "$BODY" "$ROUTED" \
  || die "routewise does not answer the bench request"

col() { awk -v k="$2" '{ print $k }' "$1" | median; }

# Prints one table row from two files of "p50_us p99_us req_per_s" lines (direct, routed).
row() {
  local c=$1 direct=$2 routed=$3
  awk -v c="$c" -v dp50="$(col "$direct" 1)" -v dp99="$(col "$direct" 2)" \
      -v rp50="$(col "$routed" 1)" -v rp99="$(col "$routed" 2)" \
      -v drps="$(col "$direct" 3)" -v rrps="$(col "$routed" 3)" 'BEGIN {
    printf "%-6s %10.0fus %10.0fus %10.0fus %10.0fus %10.0fus %10.0fus %10.0f %10.0f\n",
      c, dp50, dp99, rp50, rp99, rp50 - dp50, rp99 - dp99, drps, rrps }'
}
header() {
  printf '%-6s %12s %12s %12s %12s %12s %12s %10s %10s\n' conns direct_p50 direct_p99 \
    routed_p50 routed_p99 added_p50 added_p99 direct_rps routed_rps
}

# Closed loop: prints "p50_us p99_us requests_per_second" for one wrk run.
wrk_run() {
  local url=$1 connections=$2 threads=$(( $2 < 2 ? 1 : 2 ))
  "${LOAD_PIN[@]}" timeout $(( closed_secs + 30 )) \
    wrk -t "$threads" -c "$connections" -d "$DURATION" --latency -s bench/chat.lua "$url" | wrk_stats
}

# Open loop: prints "p50_us p99_us requests_per_second" for one oha run at RATE req/s.
oha_run() {
  local url=$1 connections=$2 rt=()
  [[ -n $OPEN_RT ]] && rt=(chrt -f "$OPEN_RT")
  "${LOAD_PIN[@]}" "${rt[@]}" timeout $(( open_secs + 30 )) \
    oha --no-tui --output-format json -q "$RATE" --latency-correction -c "$connections" \
      -z "$OPEN_DURATION" -m POST -H 'Content-Type: application/json' -d "$BODY" "$url" \
    >"$WORK/oha.json" || die "oha failed against $url"
  python3 - "$WORK/oha.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
codes = report.get("statusCodeDistribution") or {}
bad = sum(n for code, n in codes.items() if code != "200")
# Requests still in flight when the duration ends are cut off, not failed.
errors = {k: n for k, n in (report.get("errorDistribution") or {}).items()
          if k != "aborted due to deadline"}
if bad or errors:
    print(f"error: {bad} non-200 responses, errors {errors}", file=sys.stderr)
p = report["latencyPercentiles"]
print(f'{p["p50"] * 1e6:.1f} {p["p99"] * 1e6:.1f} {report["summary"]["requestsPerSec"]:.0f}')
EOF
}

# Warm up connection pools and caches.
"${LOAD_PIN[@]}" timeout 30 oha --no-tui -q "$RATE" -z 1s -c 16 -m POST \
  -H 'Content-Type: application/json' -d "$BODY" "$DIRECT" >/dev/null 2>&1 || true
"${LOAD_PIN[@]}" timeout 30 oha --no-tui -q "$RATE" -z 1s -c 16 -m POST \
  -H 'Content-Type: application/json' -d "$BODY" "$ROUTED" >/dev/null 2>&1 || true

# Switches every thread of both servers to SCHED_FIFO at priority $1, or back to normal (no $1).
servers_priority() {
  for pid in "${PIDS[@]}"; do
    if [[ -n ${1:-} ]]; then chrt -a -f -p "$1" "$pid" >/dev/null; else chrt -a -o -p 0 "$pid" >/dev/null; fi
  done
}

echo "# CPUs: load generator ${LOAD_CPUS:-any}, mock and routewise ${SERVER_CPUS:-any}; $(nproc) online; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for section in $SECTIONS; do
  case $section in
    closed)
      echo "## closed loop (wrk), $REPEATS x $DURATION, medians"; run=wrk_run
      [[ -n $OPEN_RT ]] && servers_priority ;;
    open)
      echo "## open loop (oha) at $RATE req/s, $REPEATS x $OPEN_DURATION, medians${OPEN_RT:+, SCHED_FIFO $OPEN_RT}"
      run=oha_run
      [[ -n $OPEN_RT ]] && servers_priority "$OPEN_RT" ;;
    *) die "unknown section '$section' (closed, open)" ;;
  esac
  header
  for c in $CONNECTIONS; do
    : >"$WORK/direct"; : >"$WORK/routed"
    for _ in $(seq 1 "$REPEATS"); do
      $run "$DIRECT" "$c" >>"$WORK/direct"
      $run "$ROUTED" "$c" >>"$WORK/routed"
    done
    row "$c" "$WORK/direct" "$WORK/routed"
  done
done
echo "routewise peak RSS: $(awk '/VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$ROUTEWISE_PID/status")"
