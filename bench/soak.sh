#!/usr/bin/env bash
# Soak of the routewise gateway: a long run at a fixed rate with a fault mix, judged request by
# request (docs/SERVE.md, section "Security": what the soak checks and the last figures).
#
# Starts `routewise-mock-upstream --faults` (by default 5% of upstream calls answer 500, 1% are
# cut off mid-answer) and one `routewise serve` with config/examples/local.toml and its SQLite
# store, then runs `routewise-soak` against it: first a burst of SLOW_BURST connections that
# never finish their headers, then DURATION at RATE requests a second, half of them streamed, 1%
# of them slow clients (half-sent headers or a stalled body). It passes when every request is
# answered or cleanly failed (an OpenAI-shaped error, a stream error event, a slow client cut
# off), resident memory stays within RSS_BAND percent of its level after WARMUP, and the file
# descriptors come back to where they started. The table goes to stdout; the server's log to
# $WORK/serve.log, kept on failure.
#
# Usage: bench/soak.sh
#   env: DURATION=20m RATE=500 WARMUP=2m SAMPLE=1m FAULTS=5xx=5%,cut=1% SLOW_SHARE=0.01
#        SLOW_BURST=2000 RSS_BAND=10 STREAM_SHARE=0.5
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20m}
RATE=${RATE:-500}
WARMUP=${WARMUP:-2m}
SAMPLE=${SAMPLE:-1m}
FAULTS=${FAULTS:-5xx=5%,cut=1%}
SLOW_SHARE=${SLOW_SHARE:-0.01}
SLOW_BURST=${SLOW_BURST:-2000}
RSS_BAND=${RSS_BAND:-10}
STREAM_SHARE=${STREAM_SHARE:-0.5}
MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:18100}
LISTEN=${LISTEN:-127.0.0.1:18180}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

die() { echo "bench/soak.sh: $*" >&2; exit 1; }
command -v curl >/dev/null || die "needs curl (apt-get install curl)"
# The burst and the slow clients each hold a socket on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > SLOW_BURST + 2000 )) || die "the open-files limit $(ulimit -n) is too low for SLOW_BURST=$SLOW_BURST"

cargo build --release -j 2 -p routewise -p routewise-testkit --bins >&2

WORK=$(mktemp -d)
PIDS=()
passed=0
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if (( passed )); then rm -rf "$WORK"; else echo "bench/soak.sh: logs kept in $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$TARGET_DIR/release/routewise-mock-upstream" "$MOCK_ADDR" --faults "$FAULTS" >/dev/null &
PIDS+=("$!")
cp config/examples/local.toml "$WORK/routewise.toml"
ROUTEWISE_UPSTREAM_URL="http://$MOCK_ADDR/v1" ROUTEWISE_LISTEN="$LISTEN" \
  ROUTEWISE_STORE=sqlite://routewise.db RUST_LOG=warn \
  "$TARGET_DIR/release/routewise" serve --config "$WORK/routewise.toml" >"$WORK/serve.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 100); do
  curl -fs "http://$LISTEN/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$LISTEN/readyz" >/dev/null || die "routewise did not become ready (log: $WORK/serve.log)"

echo "soak: $DURATION at $RATE req/s, upstream faults $FAULTS, slow clients $SLOW_SHARE, burst $SLOW_BURST"
"$TARGET_DIR/release/routewise-soak" --target "$LISTEN" --pid "$SERVER" --rate "$RATE" \
  --duration "$DURATION" --warmup "$WARMUP" --sample "$SAMPLE" --slow-share "$SLOW_SHARE" \
  --slow-burst "$SLOW_BURST" --rss-band "$RSS_BAND" --stream-share "$STREAM_SHARE"
passed=1
echo
echo "routewise's own count of outcomes:"
curl -fs "http://$LISTEN/metrics" | grep -E '^routewise_(requests_total|connections)' | sort || true
