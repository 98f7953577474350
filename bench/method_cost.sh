#!/bin/sh
# ResQ's calibration cost: wall time and peak memory of the resq stage on
# stories260K and on one Llama-2-7B-shaped synthetic layer (dim 4096, FFN
# 11008, 32 heads, vocab 32000), next to no pipeline and to quarot.
#
# Each row is one `rotbench eval` (wikitext2, 512 tokens scored in 256-token
# windows, so the evaluation itself is small) under /usr/bin/time -v:
#   prepare_s  the pipeline's wall time (the record's method.prepare_seconds)
#   phases     resq's own split (stderr): random rotations, the calibration
#              forward that collects the covariances, the eigendecompositions
#              and compositions, the fusing into the weights
#   peak_MiB   the process's maximum resident set; the difference to the row
#              without a pipeline is what the stage adds
# Calibration: the default 32 windows of 256 tokens of tinystories.
#
# usage: bench/resq_calibration.sh [ROTBENCH] [THREADS]     (from the repo root)
#        FULL=1 also runs resq:down=pca on the synthetic layer (an 11008²
#        eigendecomposition: minutes)
set -eu
RB=${1:-build/app/rotbench}
THREADS=${2:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$RB" synth --out "$TMP/layer7b.bin" --dim 4096 --hidden 11008 --layers 1 --heads 32 \
    --vocab 32000 --seq-len 2048 >/dev/null
SYNTH="--model $TMP/layer7b.bin --tokenizer llama2"

echo "| model | pipeline | prepare_s | peak_MiB | resq phases |"
echo "|---|---|---:|---:|---|"
run() { # label, model flags, pipeline ("" = none)
    label=$1 model=$2 pipe=$3
    set -- eval $model --max-tokens 512 --ctx 256 --json --threads "$THREADS"
    [ -n "$pipe" ] && set -- "$@" --pipeline "$pipe"
    /usr/bin/time -v "$RB" "$@" >"$TMP/out.json" 2>"$TMP/err.txt" || {
        cat "$TMP/err.txt" >&2
        exit 1
    }
    prep=$(grep -o '"prepare_seconds":[0-9.e+-]*' "$TMP/out.json" | cut -d: -f2)
    kib=$(grep 'Maximum resident set size' "$TMP/err.txt" | awk '{print $NF}')
    phases=$(grep '^resq:' "$TMP/err.txt" | sed 's/^resq: //' || true)
    printf '| %s | %s | %.2f | %d | %s |\n' "$label" "${pipe:-none}" "$prep" $((kib / 1024)) \
        "$phases"
}
for pipe in "" quarot resq "resq:down=pca"; do run stories260K "" "$pipe"; done
for pipe in "" quarot resq; do run "synthetic 4096/11008, 1 layer" "$SYNTH" "$pipe"; done
if [ "${FULL:-0}" = 1 ]; then run "synthetic 4096/11008, 1 layer" "$SYNTH" "resq:down=pca"; fi
