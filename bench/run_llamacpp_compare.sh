#!/usr/bin/env bash
# fp32 evaluation speed, rotbench against llama.cpp's llama-perplexity, in one
# run on the same machine: a synthetic model of Llama-2-7B layer shape (dim
# 4096, FFN 11008, 32 heads, vocab 32000, LAYERS layers), written by `rotbench
# synth` as llama2.c and converted for llama.cpp by its own
# llama-convert-llama2c-to-ggml (F32 tensors, the Llama-2 vocabulary of
# $ROTBENCH_DATA/models/llama2-tokenizer/tokenizer.bin).  Both sides score
# WINDOWS non-overlapping windows of T tokens of wikitext2 with the same
# threads; each side's time is the whole process (/usr/bin/time: load,
# tokenize, forward, scoring), alternated round by round so both see the
# same load; tokens/s = WINDOWS·T / the best round's wall time.
#
# usage: bench/run_llamacpp_compare.sh [--layers N] [--T LIST] [--windows N]
#                                      [--rounds N] [--threads N]
#                                      [--scoring llama.cpp|rotbench]
# --scoring: rotbench's --ppl-scoring (default llama.cpp: the same work as
# llama-perplexity, BOS first, only each window's second half scored, so
# rotbench computes logits for that half only; rotbench: every position)
# env: LLAMACPP_BIN (default /work/llamacpp/build/bin), BUILD_DIR (build),
#      ROTBENCH_DATA (/work/shared), SCRATCH (a temporary directory)
# Writes results/perf/llamacpp.jsonl (one object per process run) and prints
# a Markdown table (results/perf/llamacpp.md is written from it by hand).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
layers=1 Ts="512 2048" windows=1 rounds=1 threads=2 scoring=llama.cpp
while [ $# -gt 0 ]; do
    case $1 in
    --layers) layers=$2; shift 2 ;;
    --T) Ts=${2//,/ }; shift 2 ;;
    --windows) windows=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --scoring) scoring=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
data=${ROTBENCH_DATA:-/work/shared}
export ROTBENCH_DATA=$data
bin=${LLAMACPP_BIN:-/work/llamacpp/build/bin}
build=${BUILD_DIR:-build}
rb=$build/app/rotbench
tok=$data/models/llama2-tokenizer/tokenizer.bin
text=$data/datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt
tmp=${SCRATCH:-$(mktemp -d)}
mkdir -p "$tmp"
out=results/perf/llamacpp.jsonl
model=$tmp/s7b_${layers}l.bin
gguf=$tmp/s7b_${layers}l.gguf
[ -f "$model" ] || "$rb" synth --out "$model" --dim 4096 --hidden 11008 --layers "$layers" --heads 32 \
    --vocab 32000 --seq-len 4096 --seed 1 >&2
if [ ! -f "$gguf" ]; then
    "$bin/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$tok" \
        --llama2c-model "$model" --llama2c-output-model "$gguf" > "$tmp/convert.log" 2>&1
    # the converter writes rope.dimension_count 64 and context_length 128
    # whatever the model (llama.cpp then refuses head_dim 128): set both
    # in place with llama.cpp's own gguf-py
    # (the source tree's gguf-py: build/bin is one or two levels below it)
    gp=${LLAMACPP_GGUF_PY:-}
    for d in "$(dirname "$bin")/../gguf-py" "$(dirname "$bin")/../../gguf-py"; do
        [ -n "$gp" ] || [ ! -d "$d" ] || gp=$d
    done
    PYTHONPATH=$gp /usr/bin/python3 "$gp/gguf/scripts/gguf_set_metadata.py" --force "$gguf" \
        llama.rope.dimension_count 128 >> "$tmp/convert.log" 2>&1
    PYTHONPATH=$gp /usr/bin/python3 "$gp/gguf/scripts/gguf_set_metadata.py" --force "$gguf" \
        llama.context_length 4096 >> "$tmp/convert.log" 2>&1
fi
commit=$(git rev-parse --short HEAD)
llama_commit=$(git -C "$(dirname "$bin")/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
for T in $Ts; do
    for r in $(seq "$rounds"); do
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        /usr/bin/time -f "%e %M" -o "$tmp/time_rb" "$rb" eval --model "$model" --tokenizer "$tok" \
            --task wikitext2 --ctx "$T" --max-tokens $((windows * T)) --threads "$threads" \
            --ppl-scoring "$scoring" --json \
            > "$tmp/rb.json" 2> "$tmp/rb.err"
        read -r wall rss < "$tmp/time_rb"
        /usr/bin/python3 - "$tmp/rb.json" "$wall" "$rss" "$T" "$windows" "$threads" "$layers" "$commit" "$load" "$scoring" >> "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); wall = float(sys.argv[2]); T = int(sys.argv[4]); w = int(sys.argv[5])
print(json.dumps({"bench": "eval_process", "side": "rotbench", "commit": sys.argv[8], "layers": int(sys.argv[7]),
    "ppl_scoring": sys.argv[10],
    "T": T, "windows": d["n_windows"], "threads": int(sys.argv[6]), "wall_s": wall, "peak_rss_kb": int(sys.argv[3]),
    "tokens_per_s_process": round(w * T / wall, 2), "eval_seconds": round(d["seconds"], 3),
    "tokens_per_s_eval": round(d["n_windows"] * T / d["seconds"], 2), "nll": d["nll"],
    "gemm": d.get("gemm"), "blas_kernels": d.get("blas_kernels"), "simd": d.get("simd"), "load_before": sys.argv[9]}))
PY
        tail -1 "$out" >&2
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        /usr/bin/time -f "%e %M" -o "$tmp/time_ll" "$bin/llama-perplexity" -m "$gguf" -f "$text" -c "$T" \
            -b "$T" -ub "$T" -t "$threads" -tb "$threads" --chunks "$windows" > "$tmp/ll.out" 2> "$tmp/ll.err" || true
        tail -1 "$tmp/time_ll" > "$tmp/time_ll1" # "Command exited ..." comes first on failure
        read -r wall rss < "$tmp/time_ll1"
        /usr/bin/python3 - "$tmp/ll.err" "$tmp/ll.out" "$wall" "$rss" "$T" "$windows" "$threads" "$layers" "$llama_commit" "$load" >> "$out" <<'PY'
import json, re, sys
txt = open(sys.argv[1], errors="replace").read() + open(sys.argv[2], errors="replace").read()
wall = float(sys.argv[3]); T = int(sys.argv[5]); w = int(sys.argv[6])
m = re.search(r"([\d.]+) seconds per pass", txt)  # llama-perplexity's forward time per window
p = re.search(r"Final estimate: PPL = ([\d.]+)", txt)
print(json.dumps({"bench": "eval_process", "side": "llama.cpp", "commit": sys.argv[9], "layers": int(sys.argv[8]),
    "T": T, "windows": w, "threads": int(sys.argv[7]), "wall_s": wall, "peak_rss_kb": int(sys.argv[4]),
    "tokens_per_s_process": round(w * T / wall, 2),
    "eval_seconds": float(m.group(1)) * w if m else None,
    "tokens_per_s_eval": round(T / float(m.group(1)), 2) if m else None,
    "ppl": float(p.group(1)) if p else None, "load_before": sys.argv[10]}))
PY
        tail -1 "$out" >&2
    done
done
