#!/usr/bin/env bash
# SpinQuant learning speed: iterations/s of the spinquant stage's Cayley SGD
# (per iteration: the effective weights f(base, R1, R2), `batch` calibration
# windows forward and backward with W16A4KV4 fake quantizers, the chain rule
# to R1/R2 and the Cayley solves), on stories260K and on one synthetic layer
# of Llama-2-7B shape (dim 4096, FFN 11008, 32 heads, 1 layer, vocabulary
# 32000, the llama2 tokenizer's: embedding and classifier add 262M parameters to the
# layer's 202M, and with learn_path=weights every one of them is rotated by R1
# each iteration).  Times come from
# the stage's own summary line on stderr ("N iterations in S s"), so model
# loading, evaluation and the final fusion are excluded; peak memory is the
# whole process's (/usr/bin/time).
# Both learn paths are run and labelled: learn_path=weights (materialises
# the rotated weights every iteration) and learn_path=activations (R1/R2 on
# the activations, methods/spin_train.h).
# Usage: bench/spinquant_bench.sh [threads] [all|layer]   (defaults 2, all;
# layer: only the 7B-shaped layer's rows)
# Appends one row per run to results/perf/spinquant.jsonl (with the date, the
# CPU and the load average before and after: the machine may be shared) and
# prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${ROTBENCH:-build/app/rotbench}
threads=${1:-2}
which=${2:-all}
out=results/perf/spinquant
mkdir -p results/perf
tmp=$(mktemp -d -p "${SCRATCH:-build}")   # the 1.9 GB layer: not in /tmp
trap 'rm -rf "$tmp"' EXIT
$R synth --out "$tmp/layer.bin" --dim 4096 --hidden 11008 --layers 1 --heads 32 \
  --vocab 32000 --seq-len 2048 --seed 1 2>/dev/null
run() { # label learn-path iters batch calib-len model-args...
  local label=$1 path=$2 iters=$3 batch=$4 len=$5; shift 5
  local load0; load0=$(cut -d' ' -f1-3 /proc/loadavg)
  /usr/bin/time -v $R eval "$@" --threads "$threads" --a-bits 4 --kv-bits 4 --max-tokens 512 \
    --calib-windows "$batch" --calib-len "$len" \
    --pipeline "spinquant:iters=$iters:batch=$batch:learn_path=$path" --json > "$tmp/json" 2> "$tmp/err"
  local load1; load1=$(cut -d' ' -f1-3 /proc/loadavg)
  /usr/bin/python3 - "$label" "$iters" "$batch" "$len" "$threads" "$tmp/json" "$tmp/err" \
    "$path" "$load0" "$load1" >> "$out.jsonl" <<'PY'
import datetime, json, os, re, sys
label, iters, batch, length, threads, jf, ef, path, load0, load1 = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
d = json.load(open(jf))
err = open(ef).read()
secs = float(re.search(r"spinquant: \d+ iterations in ([0-9.]+) s", err).group(1))
grads = [float(x) for x in re.findall(r"this one: ([0-9.]+) s to the gradients", err)]
steps = [float(x) for x in re.findall(r"s to the gradients of R, ([0-9.]+) s rotation steps", err)]
peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 1024
losses = [float(x) for x in re.findall(r"iteration \d+/\d+ loss ([0-9.]+)", err)]
cfg = d["model_config"]
print(json.dumps({"label": label, "learn_path": path, "model": cfg, "iters": int(iters),
                  "batch": int(batch),
                  "window": int(length), "threads": int(threads), "learn_seconds": secs,
                  "iters_per_second": int(iters) / secs,
                  "tokens_per_second": int(iters) * int(batch) * int(length) / secs,
                  "prepare_seconds": d["method"]["prepare_seconds"], "peak_mib": round(peak),
                  "first_loss": losses[0] if losses else None,
                  "last_loss": losses[-1] if losses else None,
                  "gradient_seconds": grads, "step_seconds": steps,
                  "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
                  "cpu": cpu, "nproc": len(os.sched_getaffinity(0)),
                  "loadavg_before": load0, "loadavg_after": load1}))
PY
  tail -1 "$out.jsonl"
}
for path in weights activations; do
  [ "$which" = layer ] || run stories260K "$path" 100 4 256 --task wikitext2
done
for path in weights activations; do
  run "4096/11008, 1 layer" "$path" 2 1 256 --model "$tmp/layer.bin" --tokenizer llama2 --task wikitext2
done
