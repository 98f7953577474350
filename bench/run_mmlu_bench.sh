#!/usr/bin/env bash
# MMLU scoring speed (bench_mmlu): items/s at 0- and 5-shot with the
# subject prefix shared across items, without sharing (each item's context
# once for its four choices), and one forward per choice; on stories260K
# and on a real-size synthetic model (2 layers of Llama-2-7B shape, Llama-2
# tokenizer).  Appends JSON lines to results/perf/mmlu.jsonl.
# usage: bench/run_mmlu_bench.sh [SUBJECT]   (default high_school_biology)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${ROTBENCH_DATA:-../shared}
subject=${1:-high_school_biology}
out=results/perf/mmlu.jsonl
b=build/bench/bench_mmlu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for k in 0 5; do
  "$b" "$data/models/stories260K/stories260K.bin" "$data/models/stories260K/tok512.bin" \
    "$data/datasets/mmlu" "$subject" "$k" 40 10 >> "$out"
done
build/app/rotbench synth --out "$tmp/real.bin" --seq-len 4096 >/dev/null
for k in 0 5; do
  "$b" "$tmp/real.bin" "$data/models/llama2-tokenizer/tokenizer.bin" \
    "$data/datasets/mmlu" "$subject" "$k" "$((k ? 4 : 8))" 1 2048 >> "$out"
done
