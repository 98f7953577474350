#!/usr/bin/env bash
# rotbench's GGUF exports run by an independent consumer: llama.cpp's
# llama-perplexity (CPU build; not part of the project or of meson test).
#
# For stories260K and the planted-outlier model (pipeline stage `outliers`),
# with and without QuaRot R1/R2 (`quarot:online=0`: no online transform, so
# stock llama.cpp runs the model), it exports
#   - F32: the model in full precision,
#   - Q8_0 / Q4_0: weights quantized by rotbench (RTN or GPTQ, symmetric,
#     groups of 32, fp16 scales: --w-gran group:32 --w-scale-f16) and stored
#     as ggml blocks exactly (down_proj, 172 columns, and the embedding stay
#     F32),
# then measures the perplexity of each file with llama-perplexity (-c 512,
# f32 KV cache, its default scoring: whole 512-token windows, BOS first, the
# second half scored) and with rotbench eval --model FILE --ppl-scoring
# llama.cpp on the same text.  For block files rotbench also runs
# --a-bits 8 --a-gran group:32 (llama.cpp's CPU dot products quantize the
# activations of Q8_0/Q4_0 matmuls to Q8_0 blocks; rotbench's quantizer
# then also hits down_proj's input, which llama.cpp keeps in F32).
# Writes results/export_llamacpp.jsonl (one line per file) and
# results/export_llamacpp.md.
#
# Usage: bench/llamacpp_export.sh [BUILD] [LLAMA_BIN]
#   BUILD      rotbench build directory (default build)
#   LLAMA_BIN  directory with llama-perplexity (default /work/llamacpp/build/bin)
# Needs ROTBENCH_DATA (models/stories260K, datasets/tinystories, wikitext2);
# the gguf-py check needs numpy (PYTHON_NUMPY, default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
llama=${2:-/work/llamacpp/build/bin}
data=${ROTBENCH_DATA:-../shared}
rb="$build/app/rotbench"
out=results/export_llamacpp.jsonl
md=results/export_llamacpp.md
work=$(mktemp -d "${TMPDIR:-/tmp}/rotbench-llamacpp-XXXXXX")  # a few MB of GGUF files
trap 'rm -rf "$work"' EXIT
threads=${THREADS:-2}
: > "$out"

# corpus name → file, and the rotbench/llama.cpp token budget
# (CORPORA=all adds the first 64 windows of wikitext2: about 3 minutes a row on 2 cores)
corpora=("tinystories:$data/datasets/tinystories/TinyStories-valid-head.txt:0")
[ "${CORPORA:-}" = all ] &&
  corpora+=("wikitext2:$data/datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt:64")

llama_ppl() { # FILE TEXT CHUNKS → "nll" (the mean NLL of llama-perplexity's last line)
  local chunks=()
  [ "$3" != 0 ] && chunks=(--chunks "$3")
  # --ppl-output-type 1: "tokens ppl mean-nll sd" per chunk, the nll to 6 decimals
  # (the default output rounds the perplexity to 4); stdout alone (the log on
  # stderr, this build prints debug lines there)
  # This build sometimes exits without flushing stdout (the last chunk's line
  # and the final estimate lost; seen under heavy load): line-buffer it, and
  # accept the result only when the last line covers every chunk.
  for try in 1 2 3; do
    stdbuf -oL "$llama/llama-perplexity" -m "$1" -f "$2" -c 512 -b 512 -t "$threads" -ctk f32 \
      -ctv f32 --ppl-output-type 1 "${chunks[@]}" > "$work/llama.out" 2> "$work/llama.err" ||
      { tail -20 "$work/llama.err" >&2; return 1; }
    local n_chunks
    n_chunks=$(sed -n 's/.*calculating perplexity over \([0-9]*\) chunks.*/\1/p' "$work/llama.err")
    local got
    got=$(awk -v last=$(( (n_chunks - 1) * 512 )) \
      'NF == 4 && $1 ~ /^[0-9]+$/ && $1 == last { nll = $3 } END { print nll }' "$work/llama.out")
    [ -n "$got" ] && { echo "$got"; return 0; }
    echo "   llama-perplexity output incomplete (try $try), again" >&2
  done
  return 1
}
rb_ppl() { # FILE TEXT CHUNKS [FLAGS...] → "ppl nll n_scored"
  local f=$1 text=$2 chunks=$3
  shift 3
  local max=()
  [ "$chunks" != 0 ] && max=(--max-tokens $((chunks * 512)))
  "$rb" eval --model "$f" --text "$text" --ctx 512 --ppl-scoring llama.cpp --threads "$threads" \
    "${max[@]}" "$@" --json 2> "$work/rb.log" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(repr(r["ppl"]), repr(r["nll"]), r["n_tokens"])'
}

row() { # LABEL MODEL PIPELINE DTYPE [FLAGS...]
  local label=$1 model=$2 pipe=$3 dt=$4
  shift 4
  local f="$work/$label.gguf"
  local flags=(--model "$model" --task tinystories --max-tokens 1024 --ctx 512 --threads "$threads"
               --save-model "$f" --save-dtype "$dt")
  [ -n "$pipe" ] && flags+=(--pipeline "$pipe")
  echo "== $label: rotbench eval ${flags[*]} $*" >&2
  "$rb" eval "${flags[@]}" "$@" --json > /dev/null 2> "$work/save.log" ||
    { cat "$work/save.log" >&2; return 1; }
  for c in "${corpora[@]}"; do
    IFS=: read -r cname text chunks <<< "$c"
    local lp rbv rba=""
    lp=$(llama_ppl "$f" "$text" "$chunks")
    rbv=$(rb_ppl "$f" "$text" "$chunks")
    [ "$dt" != f32 ] && rba=$(rb_ppl "$f" "$text" "$chunks" --a-bits 8 --a-gran group:32)
    python3 - "$label" "$model" "$pipe" "$dt" "$*" "$cname" "$chunks" "$lp" "$rbv" "$rba" >> "$out" <<'EOF'
import json, sys
label, model, pipe, dt, flags, corpus, chunks, lp, rbv, rba = sys.argv[1:]
r = rbv.split()
import math
o = {"label": label, "model": model, "pipeline": pipe, "dtype": dt, "flags": flags,
     "corpus": corpus, "chunks": int(chunks), "llama_cpp_nll": float(lp),
     "llama_cpp_ppl": math.exp(float(lp)),
     "rotbench_ppl": float(r[0]), "rotbench_nll": float(r[1]), "n_scored": int(r[2]),
     "rel_diff": abs(float(r[0]) - math.exp(float(lp))) / math.exp(float(lp))}
if rba:
    a = rba.split()
    o["rotbench_a8g32_ppl"] = float(a[0])
    o["rel_diff_a8g32"] = abs(float(a[0]) - math.exp(float(lp))) / math.exp(float(lp))
print(json.dumps(o))
EOF
    render "$blocks_check"
    echo "   $cname: llama.cpp nll $lp, rotbench ppl nll n $rbv ${rba:+(a8 group:32: $rba)}" >&2
  done
}

render() { # the Markdown table from the rows so far [$1: the gguf-py check]
python3 - "$out" "$md" "$threads" "${1:-}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    f.write("# rotbench GGUF exports run by llama.cpp (llama-perplexity)\n\n")
    f.write("Made by `bench/llamacpp_export.sh` (threads %s). Each row: rotbench saves the model "
            "(`--save-model X.gguf --save-dtype T`), llama.cpp's `llama-perplexity -m X.gguf -f TEXT "
            "-c 512 -b 512 -ctk f32 -ctv f32 --ppl-output-type 1 [--chunks 64]` (its mean NLL, printed to 6 decimals; ppl = exp of it) and `rotbench eval --model X.gguf --text TEXT "
            "--ctx 512 --ppl-scoring llama.cpp [--max-tokens 32768]` score the same file "
            "(whole 512-token windows, BOS first in each, the second half scored). "
            "`a8 g32`: rotbench with `--a-bits 8 --a-gran group:32`, a model of llama.cpp's Q8_0 "
            "activation blocks in its CPU dot products.\n\n" % sys.argv[3])
    for corpus in ["tinystories", "wikitext2"]:
        sub = [r for r in rows if r["corpus"] == corpus]
        if not sub: continue
        f.write("## %s (%s)\n\n" % (corpus, "all 30 windows" if not sub[0]["chunks"] else "first %d windows" % sub[0]["chunks"]))
        f.write("| model | pipeline | file | weights | llama.cpp ppl | rotbench ppl | rel. diff | rotbench a8 g32 | rel. diff |\n|---|---|---|---|---:|---:|---:|---:|---:|\n")
        for r in sub:
            meth = "GPTQ" if "gptq" in r["pipeline"] else ("RTN" if r["dtype"] != "f32" else "fp32")
            f.write("| %s | %s | %s | %s | %.4f | %.4f | %.1e | %s | %s |\n" % (
                "outliers" if r["label"].startswith("outliers") else "stories260K",
                r["pipeline"] or "—", r["dtype"].upper(), meth, r["llama_cpp_ppl"], r["rotbench_ppl"],
                r["rel_diff"],
                "%.4f" % r["rotbench_a8g32_ppl"] if "rotbench_a8g32_ppl" in r else "—",
                "%.1e" % r["rel_diff_a8g32"] if "rel_diff_a8g32" in r else "—"))
        f.write("\n")
    if sys.argv[4]:
        f.write("## The blocks read by gguf-py\n\nllama.cpp's Python reader (gguf-py "
                "`quants.dequantize`) on rotbench's block files, against the F32 file of the "
                "same fake-quantized model:\n\n" + sys.argv[4] + "\n")
EOF
}

W8="--w-bits 8 --w-gran group:32 --w-scale-f16"
W4="--w-bits 4 --w-gran group:32 --w-scale-f16"
# stories260K in F32 with and without R1/R2 and as Q8_0 (the agreement checks),
# then the table: both models as Q4_0, with and without QuaRot R1/R2, RTN vs GPTQ
# (ROWS=all adds F32 and Q8_0 rows without QuaRot and of the outlier model)
# gguf-py (llama.cpp's own Python reader, another implementation of the
# blocks): its dequantization of every Q8_0/Q4_0 tensor equals the F32 file
# of the same fake-quantized model, element for element.
gguf_py=${GGUF_PY:-$llama/../../gguf-py}
blocks_check=""
if [ -d "$gguf_py" ]; then
  chk() { "$rb" eval --task tinystories --max-tokens 1024 --ctx 512 --threads "$threads" "$@" \
            > /dev/null 2>&1; }
  chk --pipeline quarot:online=0 $W4 --save-model "$work/chk_f32.gguf"
  chk --pipeline quarot:online=0 $W4 --save-model "$work/chk_q4.gguf" --save-dtype q4_0
  chk --pipeline quarot:online=0,gptq $W8 --save-model "$work/chk8_f32.gguf"
  chk --pipeline quarot:online=0,gptq $W8 --save-model "$work/chk_q8.gguf" --save-dtype q8_0
  blocks_check=$(PYTHONPATH="$gguf_py" "${PYTHON_NUMPY:-/usr/bin/python3}" - "$work" <<'PY'
import sys, numpy as np, gguf
from gguf import quants
w = sys.argv[1]
for q, f, what in [("chk_q4", "chk_f32", "Q4_0, quarot:online=0 + RTN W4 g32"),
                   ("chk_q8", "chk8_f32", "Q8_0, quarot:online=0 + GPTQ W8 g32")]:
    a = {t.name: t for t in gguf.GGUFReader(f"{w}/{q}.gguf").tensors}
    b = {t.name: t for t in gguf.GGUFReader(f"{w}/{f}.gguf").tensors}
    nq = sum(t.tensor_type != gguf.GGMLQuantizationType.F32 for t in a.values())
    bad = sum(not np.array_equal(quants.dequantize(t.data, t.tensor_type).reshape(-1).astype(np.float32),
                                 np.asarray(b[n].data, dtype=np.float32).reshape(-1))
              for n, t in a.items())
    print(f"- {what}: {nq} of {len(a)} tensors in blocks; tensors differing from the F32 export: {bad}")
PY
)
fi

row stories260K_quarot_fp32 stories260K "quarot:online=0" f32
row stories260K_quarot_q8_rtn stories260K "quarot:online=0" q8_0 $W8
for m in stories260K outliers; do
  pre=""
  [ "$m" = outliers ] && pre="outliers,"
  for meth in rtn gptq; do
    row "${m}_q4_$meth" stories260K "${pre}$meth" q4_0 $W4
    row "${m}_quarot_q4_$meth" stories260K "${pre}quarot:online=0,$meth" q4_0 $W4
  done
  if [ "${ROWS:-}" = all ]; then
    row "${m}_fp32" stories260K "${pre%,}" f32
    row "${m}_q8_rtn" stories260K "${pre%,}" q8_0 $W8
    [ "$m" = outliers ] && row outliers_quarot_fp32 stories260K "outliers,quarot:online=0" f32 &&
      row outliers_quarot_q8_rtn stories260K "outliers,quarot:online=0" q8_0 $W8
  fi
done


render "$blocks_check"
cat "$md"
