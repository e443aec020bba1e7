#!/usr/bin/env bash
# The dashboard against the mock upstream, in one command: builds routewise, starts the mock
# and `routewise serve` (config/examples/local.toml, its store in a fresh temporary SQLite
# file), sends a mix of requests and feedback, and prints the URL to open. Ctrl-C stops both.
#   env: ROUTEWISE_LISTEN (default 127.0.0.1:8080), MOCK_ADDR (default 127.0.0.1:8000),
#        REQUESTS (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN=${ROUTEWISE_LISTEN:-127.0.0.1:8080}
MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:8000}
REQUESTS=${REQUESTS:-60}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --release -p routewise -p routewise-testkit --bins
target/release/routewise-mock-upstream "$MOCK_ADDR" >/dev/null &
PIDS+=("$!")
ROUTEWISE_UPSTREAM_URL="http://$MOCK_ADDR/v1" ROUTEWISE_LISTEN="$LISTEN" \
  ROUTEWISE_STORE="sqlite://$WORK/routewise.db" RUST_LOG=warn \
  target/release/routewise serve --config config/examples/local.toml >/dev/null &
PIDS+=("$!")
for _ in $(seq 1 100); do
  curl -fs "http://$LISTEN/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$LISTEN/readyz" >/dev/null || { echo "routewise did not start" >&2; exit 1; }

prompts=(
  "Translate 'good morning' into French."
  "Classify the sentiment of: the delivery was late again."
  "Which planet has the most moons?"
  "Explain why the sky is blue and compare it with the colours of a sunset."
  "Write a Python function that merges two sorted lists, and explain its complexity."
  "Prove that the square root of two is irrational, step by step."
)
for i in $(seq 1 "$REQUESTS"); do
  prompt=${prompts[$(( i % ${#prompts[@]} ))]}
  body=$(printf '{"model": "auto", "messages": [{"role": "user", "content": "%s"}]}' "$prompt")
  id=$(curl -fs -D - -o /dev/null -H 'content-type: application/json' -d "$body" \
         "http://$LISTEN/v1/chat/completions" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-routewise-request-id" { print $2 }')
  # Rate every third answer: cheap answers a little worse than strong ones.
  if [[ -n $id && $(( i % 3 )) == 0 ]]; then
    score=$(( i % 2 == 0 ? 9 : 6 ))
    curl -fs -o /dev/null -H 'content-type: application/json' \
      -d "{\"request_id\": \"$id\", \"score\": 0.$score}" "http://$LISTEN/v1/feedback" || true
  fi
done
echo "sent $REQUESTS requests; open http://$LISTEN/dashboard (Ctrl-C to stop)"
wait
