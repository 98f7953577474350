#!/usr/bin/env bash
# Fake-quantization overhead: wall time of W8A8 (per-channel weights,
# per-token dynamic activations, int8 KV per token and head), of W8A8
# static per-tensor, of QuaRot's rotations alone (fp32, online Hadamards on)
# and of QuaRot W4A4KV4, relative to the fp32 eval, on stories260K
# (wikitext2, ctx 512) and on a synthetic model with Llama-2-7B layer shapes
# (2 layers, 32000 vocab, 1024 tokens of wikitext2, ctx 512).
# Targets: W8A8 and QuaRot W4A4KV4 ≤ 1.25× fp32.
# Writes results/perf/quant_overhead.jsonl and .md.  Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${ROTBENCH:-build/app/rotbench}  # ROTBENCH=path/to/rotbench to time another build
out=results/perf/quant_overhead
mkdir -p results/perf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$R synth --out "$tmp/synth7b.bin" --dim 4096 --hidden 11008 --layers 2 --heads 32 \
  --vocab 32000 --seq-len 2048 --seed 1
: > "$out.jsonl"
run() { # label model-args...
  local label=$1; shift
  for q in fp32 w8a8_dynamic w8a8_static quarot_fp32 quarot_w4a4kv4; do
    case $q in
      fp32) qa=() ;;
      w8a8_dynamic) qa=(--w-bits 8 --w-gran channel --a-bits 8 --a-gran token --kv-bits 8 --kv-gran head) ;;
      w8a8_static) qa=(--w-bits 8 --w-gran tensor --a-bits 8 --a-gran tensor --a-static) ;;
      quarot_fp32) qa=(--pipeline quarot) ;;
      quarot_w4a4kv4) qa=(--pipeline quarot --w-bits 4 --w-gran channel --a-bits 4 --a-gran token
                          --a-clip 0.9 --kv-bits 4 --kv-gran head --kv-asym) ;;
    esac
    best=""
    for rep in 1 2 3; do
      line=$($R eval "$@" --ctx 512 "${qa[@]}" --json 2>/dev/null)
      s=$(echo "$line" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
      if [ -z "$best" ] || /usr/bin/python3 -c "import sys; sys.exit(0 if $s < $best else 1)"; then best=$s; keep=$line; fi
    done
    echo "$keep" | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); d['bench']={'label':'$label','quant':'$q','best_of':3}; print(json.dumps(d))" >> "$out.jsonl"
  done
}
run stories260K --task wikitext2
run synthetic-7B-layers --model "$tmp/synth7b.bin" --tokenizer llama2 --task wikitext2 --max-tokens 1024 --calib-windows 2
/usr/bin/python3 - "$out.jsonl" > "$out.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("# Fake-quantization overhead (best of 3 runs; eval seconds exclude model preparation)\n")
print("Command: `bench/quant_overhead.sh` (rotbench eval, 2 threads, ctx 512).\n")
print("| model | quantization | seconds | tokens/s | × fp32 | ppl |")
print("|---|---|---|---|---|---|")
base = {}
for d in rows:
    b = d["bench"]
    if b["quant"] == "fp32": base[b["label"]] = d["seconds"]
    ratio = d["seconds"] / base[b["label"]]
    print(f"| {b['label']} | {b['quant']} | {d['seconds']:.3f} | {d['tokens_per_second']:.0f} | {ratio:.2f} | {d['ppl']:.4f} |")
print("\nTargets: W8A8 and QuaRot W4A4KV4 fake-quant eval ≤ 1.25× the fp32 eval time.")
print("quarot_fp32 is the rotated model without quantizers: the cost of the online Hadamards alone.")
print("ppl of the synthetic model is that of random weights (about the vocabulary size), not a quality measure.")
PY
cat "$out.md"
