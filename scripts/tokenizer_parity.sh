#!/usr/bin/env bash
# Compares `rotbench tokenize` with an independent HF-tokenizers implementation
# (@lenml/tokenizers under node, tools/tokenizer_oracle.mjs) on the whole
# WikiText-2 test set and on every string the zero-shot suite tokenizes.
# Run by hand; needs node and the npm packages (see tools/tokenizer_oracle.mjs):
#   ORACLE=/work/oracle ROTBENCH_DATA=/work/shared scripts/tokenizer_parity.sh [NAME...]
# NAME: llama3 mistral stories260K-hf (default: all).  Prints one line per
# comparison; exits 1 on any mismatch.  Work files go to ${TMPDIR:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${ROTBENCH_DATA:?set ROTBENCH_DATA to the shared data directory}
exe=${ROTBENCH_EXE:-build/app/rotbench}
tasks=${TASKS:-"hellaswag piqa arc_easy arc_challenge openbookqa boolq winogrande lambada"}
work=$(mktemp -d "${TMPDIR:-/tmp}/tokparity.XXXXXX")
trap 'rm -rf "$work"' EXIT
declare -A dirs=([llama3]=models/tokenizers/llama3 [mistral]=models/tokenizers/mistral
                 [stories260K-hf]=models/stories260K-hf)
names=("$@")
((${#names[@]})) || names=(llama3 mistral stories260K-hf)
fail=0
compare() { # label file_ours file_oracle
  local ids lines
  ids=$(wc -w <"$2")
  lines=$(wc -l <"$2")
  if cmp -s "$2" "$3"; then
    echo "$1: $lines lines, $ids ids, identical"
  else
    local bad
    bad=$(diff <(cat "$2") <(cat "$3") | grep -c '^<' || true)
    echo "$1: $lines lines, $ids ids, $bad lines DIFFER (first: line $(cmp "$2" "$3" | awk '{print $NF}'))"
    fail=1
  fi
}
for name in "${names[@]}"; do
  tok="$data/${dirs[$name]}"
  corpus="$data/datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt"
  "$exe" tokenize --tokenizer "$tok" --task wikitext2 >"$work/ours" 2>"$work/log"
  node tools/tokenizer_oracle.mjs corpus "$data" "$name" "$corpus" >"$work/theirs"
  compare "$name wikitext2 (BOS + corpus)" "$work/ours" "$work/theirs"
  for task in $tasks; do
    "$exe" tokenize --tokenizer "$tok" --task "$task" --requests 2>/dev/null |
      awk '!seen[$0]++' >"$work/strings"
    "$exe" tokenize --tokenizer "$tok" --lines "$work/strings" >"$work/ours" 2>"$work/log"
    node tools/tokenizer_oracle.mjs lines "$data" "$name" "$work/strings" >"$work/theirs"
    compare "$name $task (distinct strings)" "$work/ours" "$work/theirs"
  done
done
exit $fail
