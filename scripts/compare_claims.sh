#!/usr/bin/env bash
# The QuaRot and SpinQuant tables' claims decided by `rotbench compare`
# (README "Sweeps, tables and plots"): one Markdown row per claim and model,
# verdict holds / within noise / contradicted with the 95% interval of the
# mean difference (bootstrap over seeds and windows where the records have
# per-window NLLs, else the paired t-test's).  Usage:
#   scripts/compare_claims.sh [ROTBENCH] > results/claims_compare.md
set -euo pipefail
cd "$(dirname "$0")/.."
rb=${1:-build/app/rotbench}

. scripts/compare_row.sh

row() { # file task bits a b claim
  local file=$1 task=$2 bits=$3 a=$4 b=$5 claim=$6 m
  for m in stories260K stories260K+outliers; do
    compare_row "$rb" "$file" "$a" "$b" "model=$m,task=$task,bits=$bits" "$claim | $m | $task $bits"
  done
}

echo "| claim (a < b in ppl) | model | corpus | pairs | mean a | mean b | a − b | t-test p | 95% interval of a − b | verdict |"
echo "|---|---|---|---:|---:|---:|---:|---:|---|---|"
Q=results/quarot_table.jsonl S=results/spinquant_table.jsonl
for task in wikitext2 tinystories; do
  row $Q $task W4A4KV4 QuaRot RTN "QuaRot+RTN beats RTN"
  row $Q $task W4A4KV4 QuaRot SmoothQuant "QuaRot+RTN beats SmoothQuant+RTN"
  row $Q $task W4A4KV4 QuaRot+GPTQ QuaRot "QuaRot+GPTQ beats QuaRot+RTN"
  row $Q $task W4A4KV4 ResQ QuaRot "ResQ beats QuaRot (RTN)"
  row $S $task W4A4KV4 SpinQuant+GPTQ QuaRot+GPTQ "SpinQuant+GPTQ beats QuaRot+GPTQ"
  row $S $task W4A4KV4 SpinQuant+RTN "random Hadamard (SpinQuant init)" "SpinQuant+RTN beats its random-Hadamard start"
  row $S $task W4A4KV4 SpinQuant+RTN QuaRot "SpinQuant+RTN beats QuaRot+RTN"
done
