#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), in turn, with an allocation bound and a
# per-input time limit; a crash, hang or over-limit allocation stops with its input saved under
# fuzz/artifacts/TARGET/ (turn it into a regression test, then delete it).
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). The pinned stable toolchain builds the
# sanitizer-instrumented targets with RUSTC_BOOTSTRAP=1, which unlocks cargo-fuzz's -Z flags.
# Inputs that reach new code are added to fuzz/corpus/TARGET/ (the seeds there come from the
# test fixtures, config/examples and data/benchmarks); `cargo fuzz cmin TARGET` keeps it small.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(chat_request sse_stream anthropic_response config benchmark_line)
command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: needs cargo-fuzz: cargo install cargo-fuzz --locked" >&2; exit 1; }
export RUSTC_BOOTSTRAP=1
for target in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  echo "== $target: ${SECONDS_PER_TARGET}s"
  cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" 2>&1 \
    | grep -E "^(#[0-9]+\s+(DONE|INITED)|stat::|==|SUMMARY|Test unit written|ERROR|artifact)" || true
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "fuzz/run.sh: $target found an input that fails: fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
