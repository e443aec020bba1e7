#!/usr/bin/env bash
# Instructions the gateway executes per request, counted by valgrind's callgrind: unlike
# seconds, the count does not move with machine noise (on a shared 2-core VM, wrk runs of the
# same build differ by 10%), so it tells two builds apart where bench/load.sh cannot.
#
# It starts the mock upstream and `routewise serve` (config/examples/local.toml, no store) under
# callgrind twice: once answering no request, once answering N (oha, 4 connections), and prints
# (with N - without) / N, the user-space instructions per request. Kernel time (the loopback
# TCP, about 40% of a request's CPU) is not counted.
#
# Usage: bench/instructions.sh [BINARY]      (default target/release/routewise)
#   env: N=2000 MODE=json|stream SERVER_TOML="worker_threads = 1" (lines added to [server])
#        KEEP=out.callgrind (keep the N-request profile, for callgrind_annotate)
# Needs valgrind and oha (`cargo install oha --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/routewise}
N=${N:-2000}
MODE=${MODE:-json}
SERVER_TOML=${SERVER_TOML:-}
MOCK=${MOCK:-target/release/routewise-mock-upstream}
MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:18700}
LISTEN=${LISTEN:-127.0.0.1:18780}
for tool in valgrind oha curl; do
  command -v "$tool" >/dev/null || { echo "bench/instructions.sh: needs $tool" >&2; exit 1; }
done
[[ -x $BIN && -x $MOCK ]] || { echo "bench/instructions.sh: build first: cargo build --release -p routewise -p routewise-testkit" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp config/examples/local.toml "$WORK/routewise.toml"
if [[ -n $SERVER_TOML ]]; then
  python3 - "$WORK/routewise.toml" "$SERVER_TOML" <<'PY'
import sys
path, extra = sys.argv[1], sys.argv[2]
text = open(path).read()
if "\n[server]\n" not in text:
    sys.exit("config/examples/local.toml has no [server] line")
open(path, "w").write(text.replace("\n[server]\n", "\n[server]\n" + extra + "\n", 1))
PY
fi
stream=false; [[ $MODE == stream ]] && stream=true
BODY="{\"model\":\"auto\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Translate 'good morning' into French.\"}]}"

"$MOCK" "$MOCK_ADDR" >/dev/null 2>&1 &
MOCK_PID=$!

# Prints the instructions of one server run that answers $1 requests.
instructions() {
  local requests=$1 out="$WORK/callgrind.$1"
  # A server of an earlier run still exiting would answer in this one's place.
  for _ in $(seq 1 100); do curl -fs "http://$LISTEN/readyz" >/dev/null 2>&1 || break; sleep 0.2; done
  curl -fs "http://$LISTEN/readyz" >/dev/null 2>&1 && { echo "bench/instructions.sh: $LISTEN is taken" >&2; exit 1; }
  ROUTEWISE_UPSTREAM_URL="http://$MOCK_ADDR/v1" ROUTEWISE_LISTEN=$LISTEN ROUTEWISE_STORE=none RUST_LOG=warn \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" serve --config "$WORK/routewise.toml" \
    >/dev/null 2>"$WORK/valgrind.log" &
  local server=$!
  for _ in $(seq 1 300); do curl -fs "http://$LISTEN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fs "http://$LISTEN/readyz" >/dev/null && kill -0 "$server" 2>/dev/null \
    || { cat "$WORK/valgrind.log" >&2; exit 1; }
  if (( requests > 0 )); then
    oha -n "$requests" -c 4 --no-tui -m POST -H 'Content-Type: application/json' -d "$BODY" \
      "http://$LISTEN/v1/chat/completions" > "$WORK/oha.txt"
    grep -q 'Success rate:.*100.00%' "$WORK/oha.txt" \
      || { echo "bench/instructions.sh: not every request succeeded" >&2; exit 1; }
  fi
  kill -INT "$server"; wait "$server" || true
  [[ -s $out ]] || { echo "bench/instructions.sh: callgrind wrote no profile" >&2; exit 1; }
  [[ -n ${KEEP:-} && $requests -gt 0 ]] && cp "$out" "$KEEP"
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

idle=$(instructions 0)
loaded=$(instructions "$N")
kill "$MOCK_PID" 2>/dev/null || true
python3 -c "import sys; i, l, n = map(int, sys.argv[1:]); print(f'$MODE: {(l - i) / n:,.0f} instructions per request ({n} requests; {i:,} at start and stop)')" "$idle" "$loaded" "$N"
