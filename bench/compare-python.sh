#!/usr/bin/env bash
# Throughput of routewise against a Python gateway (LiteLLM's proxy) on the same machine.
#
# Both gateways sit in front of the same testkit mock upstream on loopback and get the same chat
# completion request from wrk (closed loop, CONNECTIONS connections, medians of REPEATS runs of
# DURATION). routewise routes `model: "auto"` (signals, rules, accounting, metrics, a JSON log
# line per request) on all cores; LiteLLM proxies a fixed model name, which is less work than
# routing, with one worker process per core. The direct call to the mock is measured in the same
# run as the ceiling. Prints requests per second, p50 / p99 latency and the throughput ratio.
#
# Needs wrk (`apt-get install wrk`) and LiteLLM's proxy: give its command in LITELLM, or let the
# script install `litellm[proxy]` from PyPI into target/bench-venv on first use.
# Usage: bench/compare-python.sh   (env: DURATION=5s REPEATS=3 CONNECTIONS=16 LITELLM=...)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-5s}
REPEATS=${REPEATS:-3}
CONNECTIONS=${CONNECTIONS:-16}
MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:18000}
ROUTEWISE_ADDR=${ROUTEWISE_ADDR:-127.0.0.1:18080}
LITELLM_PORT=${LITELLM_PORT:-18090}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { echo "bench/compare-python.sh needs wrk: apt-get install wrk" >&2; exit 1; }
if [ -z "${LITELLM:-}" ]; then
  if [ ! -x target/bench-venv/bin/litellm ]; then
    echo "installing litellm[proxy] into target/bench-venv (PyPI)..." >&2
    python3 -m venv target/bench-venv
    target/bench-venv/bin/pip install -q 'litellm[proxy]' >&2
  fi
  LITELLM=target/bench-venv/bin/litellm
fi
cargo build --release -j 2 -p routewise -p routewise-testkit --bins >&2

WORK=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$TARGET_DIR/release/routewise-mock-upstream" "$MOCK_ADDR" >/dev/null &
PIDS+=($!)
ROUTEWISE_UPSTREAM_URL="http://$MOCK_ADDR/v1" ROUTEWISE_LISTEN="$ROUTEWISE_ADDR" RUST_LOG=warn \
  "$TARGET_DIR/release/routewise" serve --config config/examples/local.toml >/dev/null &
PIDS+=($!)
ROUTEWISE_PID=$!

cat >"$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: small
    litellm_params:
      model: openai/small
      api_base: http://$MOCK_ADDR/v1
      api_key: not-needed
litellm_settings:
  telemetry: false
general_settings:
  master_key: sk-routewise-bench
EOF
# The local cost map keeps LiteLLM from fetching one over the network at start.
LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
  "$LITELLM" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" \
  --num_workers "$(nproc)" >"$WORK/litellm.log" 2>&1 &
PIDS+=($!)

wait_ready() {
  for _ in $(seq 1 900); do  # LiteLLM takes up to a minute to import on a busy machine
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$2 did not start" >&2
  [ "$2" = litellm ] && tail -20 "$WORK/litellm.log" >&2
  exit 1
}
wait_ready "http://$ROUTEWISE_ADDR/readyz" routewise
wait_ready "http://127.0.0.1:$LITELLM_PORT/health/liveliness" litellm

body_for() {
  cat >"$WORK/$1.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-routewise-bench"
wrk.body = '{"model":"$2","messages":[{"role":"user","content":"Translate \'good morning\' into French."}]}'
EOF
}
body_for auto auto
body_for small small

# Prints "p50_us p99_us requests_per_second" for one wrk run.
measure() {
  timeout 60 wrk -t 2 -c "$CONNECTIONS" -d "$DURATION" --latency -s "$WORK/$2.lua" "$1" | wrk_stats
}

# A request through each gateway must succeed before anything is timed.
for target in "http://$ROUTEWISE_ADDR auto" "http://127.0.0.1:$LITELLM_PORT small"; do
  set -- $target
  curl -fs "$1/v1/chat/completions" -H 'Content-Type: application/json' \
    -H 'Authorization: Bearer sk-routewise-bench' \
    -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" >/dev/null \
    || { echo "a request through $1 failed" >&2; tail -20 "$WORK/litellm.log" >&2; exit 1; }
done
for target in "http://$MOCK_ADDR auto" "http://$ROUTEWISE_ADDR auto" "http://127.0.0.1:$LITELLM_PORT small"; do
  set -- $target
  wrk -t 1 -c 4 -d 1s -s "$WORK/$2.lua" "$1/v1/chat/completions" >/dev/null
done

printf '%-10s %10s %10s %12s\n' target p50 p99 req/s
for target in "direct http://$MOCK_ADDR auto" "routewise http://$ROUTEWISE_ADDR auto" \
  "litellm http://127.0.0.1:$LITELLM_PORT small"; do
  set -- $target
  : >"$WORK/runs"
  for _ in $(seq 1 "$REPEATS"); do measure "$2/v1/chat/completions" "$3" >>"$WORK/runs"; done
  p50=$(awk '{ print $1 }' "$WORK/runs" | median)
  p99=$(awk '{ print $2 }' "$WORK/runs" | median)
  rps=$(awk '{ print $3 }' "$WORK/runs" | median)
  printf '%-10s %8.0fus %8.0fus %12.0f\n' "$1" "$p50" "$p99" "$rps"
  echo "$1 $rps" >>"$WORK/rps"
done
awk '{ r[$1] = $2 } END { printf "routewise / litellm throughput: %.1fx\n", r["routewise"] / r["litellm"] }' "$WORK/rps"
echo "routewise peak RSS: $(awk '/VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$ROUTEWISE_PID/status")"
