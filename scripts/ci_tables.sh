#!/usr/bin/env bash
# Regenerates results/ci/: every paper-table config's reduced profile `ci`
# (the "profiles" block in configs/NAME.json) run from scratch with
# --threads 2, the records the paper test suite (meson test --suite paper)
# compares its fresh runs with, bit for bit, and their tables.  Rerun it when
# a change to the numbers is intended (and say so in the commit).
#
#   scripts/ci_tables.sh [NAME...]      (default: all seven)
set -euo pipefail
cd "$(dirname "$0")/.."
export ROTBENCH_DATA="${ROTBENCH_DATA:-$(cd .. && pwd)/shared}"
R=build/app/rotbench
[ -x "$R" ] || scripts/setup.sh
names=("$@")
((${#names[@]})) || names=(w8a8_grid gptq_vs_rtn alpha_sweep quarot_table resq_fraction spinquant_table zeroshot)
mkdir -p results/ci
for c in "${names[@]}"; do
  rm -f "results/ci/$c.jsonl"
  start=$(date +%s)
  $R sweep "configs/$c.json" --profile ci --threads 2
  $R table --config "configs/$c.json" --profile ci --out-dir results/ci >/dev/null
  echo "ci_tables: $c in $(($(date +%s) - start)) s"
done
