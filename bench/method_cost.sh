#!/bin/sh
# What a pipeline stage costs: wall time and peak memory of `rotbench eval
# --pipeline P` on stories260K and on one Llama-2-7B-shaped synthetic layer
# (dim 4096, FFN 11008, 32 heads, vocab 32000), next to no pipeline.
#
# Each row is one `rotbench eval` (wikitext2, 512 tokens scored in 256-token
# windows, so the evaluation itself is small) under /usr/bin/time -v:
#   prepare_s  the pipeline's wall time (the record's method.prepare_seconds)
#   phases     the stages' own split, from their stderr lines (resq: random
#              rotations, covariances, bases, fusing; gptq: Hessians, factors,
#              quantizing)
#   peak_MiB   the process's maximum resident set; the difference to the row
#              without a pipeline is what the stage adds
# Calibration: the default 32 windows of 256 tokens of tinystories.
#
# usage: bench/method_cost.sh [ROTBENCH] [THREADS] [WHAT]   (from the repo root)
#   WHAT: resq (default: none, quarot, resq, resq:down=pca on stories260K;
#         none, quarot, resq on the layer; FULL=1 adds resq:down=pca there, an
#         11008² eigendecomposition: minutes) or gptq (none, gptq, quarot+gptq
#         at W4 per channel, and gptq:act_order=1 in groups of 128 (32 on stories260K), on both)
set -eu
RB=${1:-build/app/rotbench}
THREADS=${2:-2}
WHAT=${3:-resq}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$RB" synth --out "$TMP/layer7b.bin" --dim 4096 --hidden 11008 --layers 1 --heads 32 \
    --vocab 32000 --seq-len 2048 >/dev/null
SYNTH="--model $TMP/layer7b.bin --tokenizer llama2"
LAYER="synthetic 4096/11008, 1 layer"

echo "| model | pipeline | prepare_s | peak_MiB | phases |"
echo "|---|---|---:|---:|---|"
run() { # label, model flags, pipeline ("" = none), extra eval flags
    label=$1 model=$2 pipe=$3 extra=$4
    set -- eval $model --max-tokens 512 --ctx 256 --json --threads "$THREADS" $extra
    [ -n "$pipe" ] && set -- "$@" --pipeline "$pipe"
    /usr/bin/time -v "$RB" "$@" >"$TMP/out.json" 2>"$TMP/err.txt" || {
        cat "$TMP/err.txt" >&2
        exit 1
    }
    prep=$(grep -o '"prepare_seconds":[0-9.e+-]*' "$TMP/out.json" | cut -d: -f2)
    kib=$(grep 'Maximum resident set size' "$TMP/err.txt" | awk '{print $NF}')
    # resq: its phase lines; gptq: its last line (the sums so far)
    phases=$( (grep '^resq:' "$TMP/err.txt"; grep '^gptq:' "$TMP/err.txt" | tail -n 1) |
        tr '\n' ' ' || true)
    printf '| %s | %s %s | %.2f | %d | %s |\n' "$label" "${pipe:-none}" "$extra" "${prep:-0}" \
        $((kib / 1024)) "$phases"
}
case $WHAT in
resq)
    for pipe in "" quarot resq "resq:down=pca"; do run stories260K "" "$pipe" ""; done
    for pipe in "" quarot resq; do run "$LAYER" "$SYNTH" "$pipe" ""; done
    if [ "${FULL:-0}" = 1 ]; then run "$LAYER" "$SYNTH" "resq:down=pca" ""; fi
    ;;
gptq)
    for which in stories260K layer; do # (run sets model, label, pipe, extra)
        if [ $which = layer ]; then name=$LAYER flags=$SYNTH g=128; else name=$which flags="" g=32; fi
        run "$name" "$flags" "" ""
        run "$name" "$flags" gptq "--w-bits 4"
        run "$name" "$flags" quarot,gptq "--w-bits 4"
        run "$name" "$flags" gptq:act_order=1 "--w-bits 4 --w-gran group:$g"
    done
    ;;
*) echo "method_cost.sh: WHAT is resq or gptq, not '$WHAT'" >&2; exit 2 ;;
esac
