#!/usr/bin/env bash
# SpinQuant learning speed: iterations/s of the spinquant stage's Cayley SGD
# (per iteration: the effective weights f(base, R1, R2), `batch` calibration
# windows forward and backward with W16A4KV4 fake quantizers, the chain rule
# to R1/R2 and the Cayley solves), on stories260K and on one synthetic layer
# of Llama-2-7B shape (dim 4096, FFN 11008, 32 heads, 1 layer, vocabulary
# 32000, the llama2 tokenizer's: embedding and classifier add 262M parameters to the
# layer's 202M, and every one of them is rotated by R1 each iteration).  Times come from
# the stage's own summary line on stderr ("N iterations in S s"), so model
# loading, evaluation and the final fusion are excluded; peak memory is the
# whole process's (/usr/bin/time).
# Usage: bench/spinquant_bench.sh [threads]   (default 2)
# Writes results/perf/spinquant.jsonl and prints rows for spinquant.md.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${ROTBENCH:-build/app/rotbench}
threads=${1:-2}
out=results/perf/spinquant
mkdir -p results/perf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$R synth --out "$tmp/layer.bin" --dim 4096 --hidden 11008 --layers 1 --heads 32 \
  --vocab 32000 --seq-len 2048 --seed 1 2>/dev/null
: > "$out.jsonl"
run() { # label iters batch calib-len model-args...
  local label=$1 iters=$2 batch=$3 len=$4; shift 4
  /usr/bin/time -v $R eval "$@" --threads "$threads" --a-bits 4 --kv-bits 4 --max-tokens 512 \
    --calib-windows "$batch" --calib-len "$len" \
    --pipeline "spinquant:iters=$iters:batch=$batch" --json > "$tmp/json" 2> "$tmp/err"
  /usr/bin/python3 - "$label" "$iters" "$batch" "$len" "$threads" "$tmp/json" "$tmp/err" >> "$out.jsonl" <<'PY'
import json, re, sys
label, iters, batch, length, threads, jf, ef = sys.argv[1:]
d = json.load(open(jf))
err = open(ef).read()
secs = float(re.search(r"spinquant: \d+ iterations in ([0-9.]+) s", err).group(1))
peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 1024
losses = [float(x) for x in re.findall(r"iteration \d+/\d+ loss ([0-9.]+)", err)]
cfg = d["model_config"]
print(json.dumps({"label": label, "model": cfg, "iters": int(iters), "batch": int(batch),
                  "window": int(length), "threads": int(threads), "learn_seconds": secs,
                  "iters_per_second": int(iters) / secs,
                  "tokens_per_second": int(iters) * int(batch) * int(length) / secs,
                  "prepare_seconds": d["method"]["prepare_seconds"], "peak_mib": round(peak),
                  "first_loss": losses[0] if losses else None,
                  "last_loss": losses[-1] if losses else None}))
PY
  tail -1 "$out.jsonl"
}
run stories260K 100 4 256 --task wikitext2
run "4096/11008, 1 layer" 2 1 256 --model "$tmp/layer.bin" --tokenizer llama2 --task wikitext2
