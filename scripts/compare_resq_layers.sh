#!/usr/bin/env bash
# Issue 18's ResQ options decided against the old behaviour by `rotbench
# compare` (as scripts/compare_claims.sh): one Markdown row per option,
# weight quantizer and model, a = the option, b = the old behaviour, claim
# "a < b in ppl", verdict holds / within noise / contradicted with the 95%
# interval of the mean difference (paired bootstrap over seeds and windows).
# Usage:
#   scripts/compare_resq_layers.sh [ROTBENCH] > results/resq_layers_compare.md
set -euo pipefail
cd "$(dirname "$0")/.."
rb=${1:-build/app/rotbench}
F=results/resq_layers.jsonl

. scripts/compare_row.sh

row() { # a b
  local a=$1 b=$2 m
  for m in stories260K stories260K+outliers; do
    compare_row "$rb" "$F" "$a" "$b" "model=$m" "$a | $b | $m"
  done
}

echo "| a (option) | b (old behaviour) | model | pairs | mean a | mean b | a − b | t-test p | 95% interval of a − b | verdict (a < b) |"
echo "|---|---|---|---:|---:|---:|---:|---:|---|---|"
for q in RTN GPTQ; do
  row "ResQ+$q one basis per decoder layer" "ResQ+$q shared basis"
  row "ResQ+$q attention and MLP bases per layer" "ResQ+$q shared basis"
  row "ResQ+$q down PCA blocks of 86" "ResQ+$q down PCA full basis"
  row "ResQ+$q down PCA blocks of 43" "ResQ+$q down PCA full basis"
  row "ResQ+$q down PCA full basis" "ResQ+$q shared basis"
done
