#!/usr/bin/env bash
# Zero-shot scoring speed: the full lm-eval suite on stories260K (FP and
# W4A4KV4 QuaRot), packed scoring against one forward per choice on the same
# items (bench_zeroshot), and a few hundred items on a real-size synthetic
# model (dim 4096, hidden 11008, 2 layers, 32 heads, vocab 32000 with the
# Llama-2 tokenizer; ~2.1 GB, written to a temporary directory).
#
# usage: bench/run_zeroshot_bench.sh [--quick]
#
# Writes results/perf/zeroshot.jsonl (one JSON object per measurement) and
# results/perf/zeroshot.md.  Run it alone on the machine: two processes with
# busy OpenMP threads on two cores slow each other down several times.
# Data: $ROTBENCH_DATA (default /work/shared).  About 15 minutes (--quick: 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
data=${ROTBENCH_DATA:-/work/shared}
export ROTBENCH_DATA=$data
build=${BUILD_DIR:-build}
[ -d "$build" ] || meson setup "$build" >/dev/null
meson compile -C "$build" app/rotbench bench/bench_zeroshot >/dev/null
rb=$build/app/rotbench
bz=$build/bench/bench_zeroshot
out=results/perf/zeroshot.jsonl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$out"
s260=$data/models/stories260K/stories260K.bin
t512=$data/models/stories260K/tok512.bin
ds=$data/datasets

echo "== full suite, stories260K" >&2
for cfg in "FP|" "W4A4KV4 QuaRot|--pipeline quarot,rtn --w-bits 4 --a-bits 4 --a-clip 0.9 --kv-bits 4 --kv-gran head --kv-asym --w-gran channel --w-clip mse"; do
    label=${cfg%%|*}
    args=${cfg#*|}
    limit=""
    [ $quick = 1 ] && limit="--limit 300"
    # shellcheck disable=SC2086
    "$rb" eval --task zeroshot $limit $args --json 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench": "suite", "model": "stories260K", "config": sys.argv[1], "threads": d["threads"], "items": d["n_items"], "seconds": round(d["seconds"], 3), "items_per_second": round(d["items_per_second"], 1), "tokens_per_second": round(d["tokens_per_second"]), "per_task_items_per_second": {k: round(v["items_per_second"], 1) for k, v in d["tasks"].items()}}))' "$label" >> "$out"
    tail -1 "$out" >&2
done

echo "== packed vs per-choice, stories260K" >&2
pairs="hellaswag:hellaswag/hellaswag_val_full.txt:2000:500 piqa:piqa/valid.jsonl:1838:300 boolq:boolq/dev.jsonl:1000:200 arc_easy:arc_easy/ARC-Easy-test.jsonl:2376:500 lambada:lambada/lambada_test.jsonl:2000:500"
[ $quick = 1 ] && pairs="hellaswag:hellaswag/hellaswag_val_full.txt:300:100 boolq:boolq/dev.jsonl:100:50"
for p in $pairs; do
    IFS=: read -r task file np nn <<< "$p"
    "$bz" "$s260" "$t512" "$task" "$ds/$file" "$np" "$nn" | sed 's/^{/{"bench": "packed_vs_naive", /' >> "$out"
    tail -1 "$out" >&2
done

echo "== real-size synthetic model (2 layers of Llama-2-7B shape)" >&2
"$rb" synth --out "$tmp/real.bin" --seq-len 2048 >/dev/null
tok=$data/models/llama2-tokenizer/tokenizer.bin
limit=40
[ $quick = 1 ] && limit=4
"$rb" eval --model "$tmp/real.bin" --tokenizer "$tok" --task zeroshot --limit $limit --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"bench": "suite", "model": "synthetic dim 4096, hidden 11008, 2 layers, 32 heads, vocab 32000", "config": "FP, --limit " + sys.argv[1] + " per task", "threads": d["threads"], "items": d["n_items"], "seconds": round(d["seconds"], 3), "items_per_second": round(d["items_per_second"], 2), "tokens_per_second": round(d["tokens_per_second"]), "per_task_items_per_second": {k: round(v["items_per_second"], 2) for k, v in d["tasks"].items()}}))' "$limit" >> "$out"
tail -1 "$out" >&2
pairs="hellaswag:hellaswag/hellaswag_val_full.txt:100:25"
[ $quick = 1 ] && pairs="hellaswag:hellaswag/hellaswag_val_full.txt:10:4"
for p in $pairs; do
    IFS=: read -r task file np nn <<< "$p"
    "$bz" "$tmp/real.bin" "$tok" "$task" "$ds/$file" "$np" "$nn" 2048 |
        sed 's/^{/{"bench": "packed_vs_naive_real_size", /' >> "$out"
    tail -1 "$out" >&2
done
echo "wrote $out" >&2
