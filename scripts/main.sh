#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on the
# default model (stories260K): perplexity on both shared corpora at ctx 512.
# Results are appended to results/local/main.jsonl (not tracked) and summarised on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p results/local
for task in wikitext2 tinystories; do
  build/app/rotbench eval --task "$task" --ctx 512 --json | tee -a results/local/main.jsonl
done
