#!/usr/bin/env bash
# Load benchmark of the routewise gateway against the testkit mock upstream on loopback.
#
# It starts `routewise-mock-upstream` and one `routewise serve` (config/examples/local.toml) per
# entry of VARIANTS, and for each number of connections sends the same chat completion request
# (bench/chat.lua; once as JSON and once streamed, MODES) to the mock directly and through every routewise,
# alternating them in one run. Variants (default "none sqlite"):
#
#   none     no store: no decision records, no memory
#   one-worker  none with `[server] worker_threads = 1`: one serving thread instead of one per
#            CPU (docs/SERVE.md, "Overhead")
#   sqlite   the embedded default: decision records and memory in an SQLite file (WAL)
#   experiment  sqlite plus an [[experiments]] on `auto`: two arms, a shadow policy and a 5%
#            control share (docs/EXPERIMENTS.md)
#   keyed    no store, a client key with request and token limits (limits and circuits in
#            process)
#   baseline no store, run by the binary BASELINE_BIN (an earlier build), to compare two builds
#            in one run
#   dashboard  sqlite with its dashboard open: its summary and recent decisions fetched every
#            second for two ranges while the bench runs (docs/DASHBOARD.md)
#   redis    keyed with [shared] redis (REDIS_URL, default redis://127.0.0.1:6379, a fresh key
#            prefix per run): limits, circuits and the memory bus in Redis (docs/SCALE.md)
#   redis-baseline  redis, run by BASELINE_BIN, to compare two builds' shared state in one run
#
# Every request carries `Authorization: Bearer bench-key` (ignored where no keys are set).
#
# Two sections:
#
#   closed  wrk, closed loop: every connection sends its next request as soon as the last one
#           is answered, so the machine saturates. Gives throughput (req/s) and the gateway's
#           CPU time per request (from /proc, over the run); its p99s are queueing delay.
#   open    oha at a fixed rate (RATE, default 1,000 req/s) with --latency-correction, so a
#           late request counts from when it should have been sent. Gives the latency routewise
#           adds at a given load (docs/DESIGN.md: p99 added < 1 ms at 1,000 req/s).
#   replicas  (needs the redis variant) open loop at RATE through one redis replica, then split
#           over two redis replicas at once (RATE/2 each, one Redis, one client key): the
#           worse replica's p50/p99 and the summed throughput.
#
# Each cell is the median of REPEATS runs; "added" is routed minus direct; "cpu/req" is the
# server's user+system CPU over the run divided by the requests it answered (for "direct", the
# mock's own). The last lines are each routewise's peak RSS.
#
# Fairness on a shared 2-core machine: the load generator, the mock and routewise compete for the
# same cores with whatever else runs (builds), and a request through routewise needs three
# processes scheduled where a direct one needs two, so background work inflates the routed p99
# more than the direct one. For the open-loop section the servers and oha run as SCHED_FIFO
# (OPEN_RT, needs root or CAP_SYS_NICE; empty to turn off), so a woken server preempts background
# work at once; at 1,000 req/s they use a fraction of a core, and the kernel keeps 5% for
# everything else. The closed-loop section saturates the machine and runs at normal priority.
# LOAD_CPUS and SERVER_CPUS optionally pin the load generator and the servers with taskset.
#
# Needs wrk (`apt-get install wrk`), oha (`cargo install oha --locked`), python3, curl, chrt and
# taskset (util-linux). Takes about modes x (1 + variants) x REPEATS x (DURATION + OPEN_DURATION) per
# connection count. Figures and how to read them: docs/SERVE.md, section "Overhead".
# Usage: bench/load.sh
#   env: SECTIONS="closed open" CONNECTIONS="1 16 64" REPEATS=3 DURATION=5s (closed)
#        RATE=1000 OPEN_DURATION=8s OPEN_RT=10 (open) VARIANTS="none sqlite" MODES="json stream"
#        REDIS_URL=redis://127.0.0.1:6379 (redis variant) BASELINE_BIN= (baseline variant)
#        (STREAM=1, the older spelling, means MODES=stream)
#        LOAD_CPUS= SERVER_CPUS=
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
VARIANTS=${VARIANTS:-"none sqlite"}
MODES=${MODES:-json stream}
[[ ${STREAM:-0} == 1 ]] && MODES=stream
LOAD_CPUS=${LOAD_CPUS-}
SERVER_CPUS=${SERVER_CPUS-}
MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:18000}
PORT_BASE=${PORT_BASE:-18080}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
REDIS_PREFIX=routewise-bench-$$

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
MOCK_PID=$!
PIDS+=("$MOCK_PID")

# Starts `routewise serve` for variant $1 (store $2; its config in $WORK/$1) on port $3, and
# waits until it is ready.
start_server() {
  local variant=$1 store=$2 port=$3 binary="$TARGET_DIR/release/routewise"
  [[ $variant == baseline || $variant == redis-baseline ]] && binary=$BASELINE_BIN
  ROUTEWISE_UPSTREAM_URL="http://$MOCK_ADDR/v1" ROUTEWISE_LISTEN="127.0.0.1:$port" \
    ROUTEWISE_STORE="$store" RUST_LOG=warn \
    "${SERVER_PIN[@]}" "$binary" serve --config "$WORK/$variant/routewise.toml" \
    >/dev/null &
  SERVER_PID[$variant]=$!
  PIDS+=("$!")
  URL[$variant]="http://127.0.0.1:$port/v1/chat/completions"
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || die "routewise ($variant) did not start"
}

# One routewise per variant, each with its own copy of the config (so an SQLite store lives in
# the work directory) and its own port.
declare -A URL SERVER_PID
port=$PORT_BASE
for variant in $VARIANTS; do
  case $variant in
    none|one-worker|keyed|redis) store=none ;;
    baseline|redis-baseline) store=none; [[ -x ${BASELINE_BIN:-} ]] || die "the $variant variant needs BASELINE_BIN (a routewise binary)" ;;
    sqlite|experiment|dashboard) store=sqlite://routewise.db ;;
    *) die "unknown variant '$variant' (none, one-worker, sqlite, experiment, keyed, redis, dashboard, baseline, redis-baseline)" ;;
  esac
  mkdir -p "$WORK/$variant"
  cp config/examples/local.toml "$WORK/$variant/routewise.toml"
  if [ "$variant" = one-worker ]; then
    sed -i 's/^\[server\]$/[server]\nworker_threads = 1/' "$WORK/$variant/routewise.toml"
    grep -q '^worker_threads = 1$' "$WORK/$variant/routewise.toml" || die "config/examples/local.toml has no [server] line for worker_threads"
  fi
  if [ "$variant" = experiment ]; then
    cat >>"$WORK/$variant/routewise.toml" <<'TOML'

[[experiments]]
name = "bench"
shadow = ["complexity"]
control_share = 0.05
arms = [{ name = "a", policy = "rules", weight = 9 }, { name = "b", policy = "complexity", weight = 1 }]
TOML
  fi
  if [ "$variant" = keyed ] || [ "$variant" = redis ] || [ "$variant" = redis-baseline ]; then
    # Limits far above what the bench sends: every request is checked, none refused.
    cat >>"$WORK/$variant/routewise.toml" <<TOML

[[server.client_keys]]
name = "bench"
key_sha256 = "$(printf bench-key | sha256sum | cut -d' ' -f1)"
requests_per_minute = 100000000
tokens_per_minute = 1000000000
TOML
  fi
  if [ "$variant" = redis ] || [ "$variant" = redis-baseline ]; then
    printf '\n[shared]\nredis = "%s"\nprefix = "%s"\n' "$REDIS_URL" "$REDIS_PREFIX-$variant" \
      >>"$WORK/$variant/routewise.toml"
  fi
  start_server "$variant" "$store" "$port"
  port=$((port + 1))
done
if [[ " $VARIANTS " == *" dashboard "* ]]; then
  # An open dashboard, ten times as eager as the page's own 10 s refresh: its summary (which
  # the gateway recomputes every 2 s at most) and first page of decisions every second.
  dashboard_base=${URL[dashboard]%/v1/chat/completions}
  (
    while true; do
      for range in 1h 24h; do
        curl -fs -o /dev/null -H "Authorization: Bearer bench-key" "$dashboard_base/v1/dashboard/summary?range=$range" || true
        curl -fs -o /dev/null -H "Authorization: Bearer bench-key" "$dashboard_base/v1/dashboard/decisions?range=$range" || true
      done
      sleep 1
    done
  ) &
  PIDS+=("$!")
fi
if [[ " $SECTIONS " == *" replicas "* ]]; then
  [[ " $VARIANTS " == *" redis "* ]] || die "the replicas section needs the redis variant"
  mkdir -p "$WORK/redis2"
  cp "$WORK/redis/routewise.toml" "$WORK/redis2/routewise.toml"
  start_server redis2 none "$port"
fi

# The request of bench/chat.lua, for oha and curl, as JSON, and asking for a stream.
JSON_BODY=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/chat.lua | sed "s/\\\\'/'/g")
STREAM_BODY=${JSON_BODY/\{\"model\"/\{\"stream\":true,\"model\"}
DIRECT="http://$MOCK_ADDR/v1/chat/completions"
AUTH="Authorization: Bearer bench-key"
for variant in $VARIANTS; do
  curl -fs -o /dev/null -H 'Content-Type: application/json' -H "$AUTH" -d "$JSON_BODY" "${URL[$variant]}" \
    || die "routewise ($variant) does not answer the bench request"
done

col() { awk -v k="$2" '{ print $k }' "$1" | median; }

# Prints one table row from two files of "p50_us p99_us req_per_s cpu_ms_per_req" lines.
row() {
  local c=$1 variant=$2 direct=$3 routed=$4
  awk -v c="$c" -v v="$variant" -v dp50="$(col "$direct" 1)" -v dp99="$(col "$direct" 2)" \
      -v rp50="$(col "$routed" 1)" -v rp99="$(col "$routed" 2)" \
      -v drps="$(col "$direct" 3)" -v rrps="$(col "$routed" 3)" \
      -v dcpu="$(col "$direct" 4)" -v rcpu="$(col "$routed" 4)" 'BEGIN {
    printf "%-6s %-8s %8.0fus %8.0fus %8.0fus %8.0fus %8.0fus %8.0fus %9.0f %9.0f %8.4f %8.4f\n",
      c, v, dp50, dp99, rp50, rp99, rp50 - dp50, rp99 - dp99, drps, rrps, dcpu, rcpu }'
}
header() {
  printf '%-6s %-8s %10s %10s %10s %10s %10s %10s %9s %9s %8s %8s\n' conns variant direct_p50 \
    direct_p99 routed_p50 routed_p99 added_p50 added_p99 direct_rps routed_rps d_cpu_ms r_cpu_ms
}

# CPU time (ms, user + system) a process has used so far.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}

# Closed loop: prints "p50_us p99_us requests_per_second cpu_ms_per_request" for one wrk run
# against $1, with $3 the pid of the server whose CPU counts.
wrk_run() {
  local url=$1 connections=$2 pid=$3 threads=$(( $2 < 2 ? 1 : 2 )) before after stats
  before=$(cpu_ms "$pid")
  stats=$("${LOAD_PIN[@]}" timeout $(( closed_secs + 30 )) \
    wrk -t "$threads" -c "$connections" -d "$DURATION" --latency -s "$wrk_script" "$url" | wrk_stats)
  after=$(cpu_ms "$pid")
  awk -v s="$stats" -v b="$before" -v a="$after" -v d="$closed_secs" 'BEGIN {
    split(s, f, " "); n = f[3] * d; cpu = (n > 0) ? (a - b) / n : 0
    printf "%s %s %s %.5f\n", f[1], f[2], f[3], cpu }'
}

# Open loop: the same for one oha run at $4 req/s (default RATE), its report in $5.
oha_run() {
  local url=$1 connections=$2 pid=$3 rate=${4:-$RATE} out=${5:-$WORK/oha.json} rt=() before after
  [[ -n $OPEN_RT ]] && rt=(chrt -f "$OPEN_RT")
  before=$(cpu_ms "$pid")
  "${LOAD_PIN[@]}" "${rt[@]}" timeout $(( open_secs + 30 )) \
    oha --no-tui --output-format json -q "$rate" --latency-correction -c "$connections" \
      -z "$OPEN_DURATION" -m POST -H 'Content-Type: application/json' -H "$AUTH" -d "$BODY" "$url" \
    >"$out" || die "oha failed against $url"
  after=$(cpu_ms "$pid")
  python3 - "$out" "$before" "$after" <<'EOF'
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
ok = codes.get("200", 0) or 1
cpu = (float(sys.argv[3]) - float(sys.argv[2])) / ok
print(f'{p["p50"] * 1e6:.1f} {p["p99"] * 1e6:.1f} {report["summary"]["requestsPerSec"]:.0f} {cpu:.5f}')
EOF
}

# Sets BODY (for oha) and wrk_script (for wrk) to the mode's request: bench/chat.lua as it is
# for JSON, a copy with the streamed body for streams.
use_mode() {
  if [[ $1 == stream ]]; then
    BODY=$STREAM_BODY
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer bench-key"\nwrk.body = [[%s]]\n' \
      "$BODY" >"$WORK/chat.lua"
    wrk_script="$WORK/chat.lua"
  else
    BODY=$JSON_BODY
    wrk_script=bench/chat.lua
  fi
}

# Warms up connection pools and caches.
warm_up() {
  for url in "$DIRECT" "${URL[@]}"; do
    "${LOAD_PIN[@]}" timeout 30 oha --no-tui -q "$RATE" -z 1s -c 16 -m POST \
      -H 'Content-Type: application/json' -H "$AUTH" -d "$BODY" "$url" >/dev/null 2>&1 || true
  done
}

# Two redis replicas at RATE/2 each, at once: "p50_us p99_us req_per_s cpu_ms_per_req" with
# the worse replica's latencies, the summed throughput and the mean CPU per request.
two_replicas_run() {
  local c=$1 half=$(( RATE / 2 )) a b
  oha_run "${URL[redis]}" "$c" "${SERVER_PID[redis]}" "$half" "$WORK/oha-a.json" >"$WORK/one-of-two" &
  a=$!
  oha_run "${URL[redis2]}" "$c" "${SERVER_PID[redis2]}" "$half" "$WORK/oha-b.json" >"$WORK/other-of-two" &
  b=$!
  wait "$a"; wait "$b"
  paste -d' ' "$WORK/one-of-two" "$WORK/other-of-two" | awk '{
    printf "%s %s %d %.5f\n", ($1 > $5) ? $1 : $5, ($2 > $6) ? $2 : $6, $3 + $7, ($4 + $8) / 2 }'
}

# The replicas section: the direct path, one redis replica at RATE, two at RATE/2 each.
replicas_section() {
  echo "## $mode, replicas: open loop (oha) at $RATE req/s in all, $REPEATS x $OPEN_DURATION, medians${OPEN_RT:+, SCHED_FIFO $OPEN_RT}"
  [[ -n $OPEN_RT ]] && servers_priority "$OPEN_RT"
  header
  for c in $CONNECTIONS; do
    : >"$WORK/direct"; : >"$WORK/one"; : >"$WORK/two"
    for _ in $(seq 1 "$REPEATS"); do
      oha_run "$DIRECT" "$c" "$MOCK_PID" >>"$WORK/direct"
      oha_run "${URL[redis]}" "$c" "${SERVER_PID[redis]}" >>"$WORK/one"
      two_replicas_run "$c" >>"$WORK/two"
    done
    row "$c" "1xredis" "$WORK/direct" "$WORK/one"
    row "$c" "2xredis" "$WORK/direct" "$WORK/two"
  done
}

# Switches every thread of the servers to SCHED_FIFO at priority $1, or back to normal (no $1).
servers_priority() {
  for pid in "${PIDS[@]}"; do
    if [[ -n ${1:-} ]]; then chrt -a -f -p "$1" "$pid" >/dev/null; else chrt -a -o -p 0 "$pid" >/dev/null; fi
  done
}

echo "# CPUs: load generator ${LOAD_CPUS:-any}, servers ${SERVER_CPUS:-any}; $(nproc) online; load average $(cut -d' ' -f1-3 /proc/loadavg); modes: $MODES"
for mode in $MODES; do
  [[ $mode == json || $mode == stream ]] || die "unknown mode '$mode' (json, stream)"
  use_mode "$mode"
  warm_up
  for section in $SECTIONS; do
    case $section in
      closed)
        echo "## $mode, closed loop (wrk), $REPEATS x $DURATION, medians"; run=wrk_run
        [[ -n $OPEN_RT ]] && servers_priority ;;
      open)
        echo "## $mode, open loop (oha) at $RATE req/s, $REPEATS x $OPEN_DURATION, medians${OPEN_RT:+, SCHED_FIFO $OPEN_RT}"
        run=oha_run
        [[ -n $OPEN_RT ]] && servers_priority "$OPEN_RT" ;;
      replicas) replicas_section; continue ;;
      *) die "unknown section '$section' (closed, open, replicas)" ;;
    esac
    header
    for c in $CONNECTIONS; do
      : >"$WORK/direct"
      for variant in $VARIANTS; do : >"$WORK/routed-$variant"; done
      for _ in $(seq 1 "$REPEATS"); do
        $run "$DIRECT" "$c" "$MOCK_PID" >>"$WORK/direct"
        for variant in $VARIANTS; do
          $run "${URL[$variant]}" "$c" "${SERVER_PID[$variant]}" >>"$WORK/routed-$variant"
        done
      done
      for variant in $VARIANTS; do row "$c" "$variant" "$WORK/direct" "$WORK/routed-$variant"; done
    done
  done
done
for variant in "${!SERVER_PID[@]}"; do
  echo "routewise ($variant) peak RSS: $(awk '/VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/${SERVER_PID[$variant]}/status")"
done
