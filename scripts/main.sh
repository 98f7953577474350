#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on the
# default model (stories260K): a method comparison (configs/main.json) whose
# table and plot land in results/local/ (not tracked), plus the fp32
# perplexity on both corpora.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
R=build/app/rotbench
mkdir -p results/local
rm -f results/local/main.jsonl
for task in wikitext2 tinystories; do
  $R eval --task "$task" --ctx 512 2>/dev/null
done
$R sweep configs/main.json
$R table --config configs/main.json --out-dir results/local
$R plot --config configs/main.json --out-dir results/local
echo "main job: table results/local/main_ppl.md, plot results/local/main_ppl_vs_bits.png"
