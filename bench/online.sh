#!/usr/bin/env bash
# Reproduces the figures of docs/ONLINE.md: `routewise simulate` on the bundled MMLU, in three
# folds (a learned router trained offline on two parts, every policy simulated on the third,
# whose subjects it never saw), shuffled and by category, with a strong-share target, without
# one, and with a budget. Writes JSON reports and plots to $OUT (default target/online).
#
#   bench/online.sh            # ~2 minutes on 2 cores after the release build
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/online}
SEEDS=${SEEDS:-5}
mkdir -p "$OUT"
cargo build --release -q -p routewise
B=target/release/routewise
D=data/benchmarks
part() { echo "$D/routellm_mmlu_part$1.jsonl.gz"; }
for fold in 1 2 3; do
  others=$(for p in 1 2 3; do if [ "$p" != "$fold" ]; then part "$p"; fi; done)
  # shellcheck disable=SC2086
  $B train --data $others --out "$OUT/learned-not-$fold.json" > /dev/null
  # The threshold a fixed router would be calibrated to offline: 30% strong on its own data.
  # shellcheck disable=SC2086
  threshold=$($B calibrate --policy "learned:$OUT/learned-not-$fold.json" --data $others \
    --strong-share 0.3 --json | sed -n 's/.*"threshold": *\([0-9.e-]*\).*/\1/p' | head -1)
  echo "fold $fold: learned threshold for 30% strong on its training data: $threshold"
  learned="learned:$OUT/learned-not-$fold.json@$threshold"
  common=(--data "$(part "$fold")" --seeds "$SEEDS" --feedback-rate 0.2 --json)
  $B simulate "${common[@]}" --policy rules --policy complexity --policy "$learned" \
    --policy bandit --strong-share 0.3 > "$OUT/held-shuffled-$fold.json"
  $B simulate "${common[@]}" --policy bandit --strong-share 0.3 \
    --bandit "prior_model=\"$OUT/learned-not-$fold.json\"" > "$OUT/held-warm-$fold.json"
  $B simulate "${common[@]}" --policy rules --policy complexity --policy "$learned" \
    --policy bandit > "$OUT/free-shuffled-$fold.json"
  $B simulate "${common[@]}" --policy complexity --policy "$learned" --policy bandit \
    --order by-category > "$OUT/fixed-by-category-$fold.json"
  $B simulate "${common[@]}" --policy complexity --policy "$learned" --policy bandit \
    --strong-share 0.3 --order by-category > "$OUT/held-by-category-$fold.json"
  # One seed at a time too: a mean over seeds would smooth each run's windows.
  for seed in $(seq "$SEEDS"); do
    $B simulate --data "$(part "$fold")" --seed "$seed" --feedback-rate 0.2 --json \
      --policy complexity --policy "$learned" --policy bandit --strong-share 0.3 \
      --order by-category > "$OUT/held-by-category-$fold-seed$seed.json"
  done
  $B simulate "${common[@]}" --policy complexity --policy "$learned" --policy bandit \
    --budget 0.5 > "$OUT/budget-$fold.json"
  $B simulate "${common[@]}" --policy complexity --policy "$learned" --policy bandit \
    --quality-floor 0.75 > "$OUT/floor-$fold.json"
done
# The plots: fold 1, by category, as configured and held at 30%, averaged over the seeds.
threshold1=$($B calibrate --policy "learned:$OUT/learned-not-1.json" --data "$(part 2)" "$(part 3)" \
  --strong-share 0.3 --json | sed -n 's/.*"threshold": *\([0-9.e-]*\).*/\1/p' | head -1)
for held in "" "--strong-share 0.3"; do
  name=$([ -n "$held" ] && echo held || echo fixed)
  # shellcheck disable=SC2086
  $B simulate --data "$(part 1)" --seeds "$SEEDS" --policy complexity \
    --policy "learned:$OUT/learned-not-1.json@$threshold1" --policy bandit $held \
    --order by-category --plot "$OUT/$name-by-category.png" > /dev/null
done
python3 bench/online_tables.py "$OUT"
