#!/usr/bin/env bash
# Downloads the named models and corpora into a data directory and checks
# their sha256.  Usage: datasets/fetch.sh DIR   (then: export ROTBENCH_DATA=DIR)
# Needs curl and network access; the wikitext2 file is built from the HF
# dataset's parquet with python3 + pyarrow (pip install pyarrow).
set -euo pipefail
dir=${1:?usage: datasets/fetch.sh DIR}
manifest="$(cd "$(dirname "$0")" && pwd)/MANIFEST.md"
mkdir -p "$dir/models/stories260K" "$dir/models/llama2-tokenizer" \
         "$dir/datasets/wikitext2" "$dir/datasets/tinystories"
hf=https://huggingface.co
get() { [ -f "$2" ] || curl -fL --retry 3 -o "$2" "$1"; }
get "$hf/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin" "$dir/models/stories260K/stories260K.bin"
get "$hf/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin" "$dir/models/stories260K/tok512.bin"
get "https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin" "$dir/models/llama2-tokenizer/tokenizer.bin"
wt="$dir/datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt"
if [ ! -f "$wt" ]; then
  pq="$dir/datasets/wikitext2/test.parquet"
  get "$hf/datasets/Salesforce/wikitext/resolve/main/wikitext-2-raw-v1/test-00000-of-00001.parquet" "$pq"
  python3 -c 'import sys, pyarrow.parquet as pq
rows = pq.read_table(sys.argv[1]).column("text").to_pylist()
open(sys.argv[2], "w", encoding="utf-8", newline="").write("\n\n".join(rows))' "$pq" "$wt"
fi
[ -f "$dir/datasets/tinystories/TinyStories-valid-head.txt" ] ||
  echo "note: tinystories (18 validation stories) has no official single-file source; copy it from a rotbench data directory" >&2
# zero-shot tasks (official sources; see MANIFEST.md)
d="$dir/datasets"
mkdir -p "$d/hellaswag" "$d/piqa" "$d/arc_easy" "$d/arc_challenge" "$d/winogrande" \
         "$d/boolq" "$d/openbookqa" "$d/lambada"
get "https://raw.githubusercontent.com/klosax/hellaswag_text_data/main/hellaswag_val_full.txt" "$d/hellaswag/hellaswag_val_full.txt"
get "https://yonatanbisk.com/piqa/data/valid.jsonl" "$d/piqa/valid.jsonl"
get "https://yonatanbisk.com/piqa/data/valid-labels.lst" "$d/piqa/valid-labels.lst"
get "https://storage.googleapis.com/boolq/dev.jsonl" "$d/boolq/dev.jsonl"
get "https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl" "$d/lambada/lambada_test.jsonl"
if [ ! -f "$d/winogrande/dev.jsonl" ]; then
  get "https://storage.googleapis.com/ai2-mosaic/public/winogrande/winogrande_1.1.zip" "$d/winogrande/w.zip"
  unzip -p "$d/winogrande/w.zip" winogrande_1.1/dev.jsonl > "$d/winogrande/dev.jsonl"
fi
if [ ! -f "$d/openbookqa/test.jsonl" ]; then
  get "https://ai2-public-datasets.s3.amazonaws.com/open-book-qa/OpenBookQA-V1-Sep2018.zip" "$d/openbookqa/o.zip"
  unzip -p "$d/openbookqa/o.zip" OpenBookQA-V1-Sep2018/Data/Main/test.jsonl > "$d/openbookqa/test.jsonl"
fi
for arc in Easy Challenge; do
  lc=$(echo "$arc" | tr A-Z a-z)
  out="$d/arc_$lc/ARC-$arc-test.jsonl"
  [ -f "$out" ] && continue
  get "$hf/datasets/allenai/ai2_arc/resolve/main/ARC-$arc/test-00000-of-00001.parquet" "$d/arc_$lc/test.parquet"
  python3 -c 'import sys, json, pyarrow.parquet as pq
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for r in pq.read_table(sys.argv[1]).to_pylist():
        f.write(json.dumps(r, ensure_ascii=False) + "\n")' "$d/arc_$lc/test.parquet" "$out"
done
# MMLU: the original release tar (data/{dev,test,val}/<subject>_<split>.csv)
if [ ! -d "$d/mmlu/test" ]; then
  mkdir -p "$d/mmlu"
  get "https://people.eecs.berkeley.edu/~hendrycks/data.tar" "$d/mmlu/data.tar"
  tar -xf "$d/mmlu/data.tar" -C "$d/mmlu" --strip-components=1 data/dev data/test data/val
fi
mmlu_test=$(cat "$d"/mmlu/test/*_test.csv | sha256sum | cut -d' ' -f1)
[ "$mmlu_test" = fa58faff5210aee66e8791f191a56016fa3d33be6b7f484a1463ae5984b834e0 ] ||
  echo "MISMATCH: $d/mmlu/test (concatenated sha256 $mmlu_test)" >&2
# verify what is there against the manifest
cd "$dir"
sed -n 's/^| [^|]* | [^|]* | \([^ |]*\) | \([0-9a-f]\{64\}\) |.*/\2  \1/p' \
  "$manifest" | while read -r sum path; do
  [ -f "$path" ] && { echo "$sum  $path" | sha256sum -c --quiet - || echo "MISMATCH: $path" >&2; }
done
