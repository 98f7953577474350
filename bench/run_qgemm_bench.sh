#!/usr/bin/env bash
# Integer kernels (--kernels int) against fp32 and fake quantization.
#
# usage: bench/run_qgemm_bench.sh [--threads N] [--skip-gemm] [--skip-synth]
#
#   1. bench_qgemm: the integer GEMM against sgemm on the Llama-2-7B and
#      Llama-3-8B linear shapes at T = 2048, every integer path the CPU has
#      from avx2 up (stderr table, JSON lines)
#   2. rotbench eval on stories260K (wikitext2, first 16384 tokens): fp32,
#      W8A8 and W4A8 (RTN, per channel / per token, symmetric) each by fake
#      quantization and by --kernels int (the default path, and avx2 as well
#      where the default is another)
#   3. the same on the real-size synthetic model (dim 4096, hidden 11008,
#      2 layers, 32 heads, vocab 32000; ~2.1 GB in $SCRATCH) on one 2048-token
#      window
# Appends JSON lines to results/perf/qgemm.jsonl (a "qgemm_meta" line first:
# date, CPU model, load average; the machine may be shared) and prints every
# command.
# Build dir: $BUILD_DIR (default build).  Data: $ROTBENCH_DATA.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=2 gemm=1 synth=1
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) threads=$2; shift ;;
    --skip-gemm) gemm=0 ;;
    --skip-synth) synth=0 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_qgemm_bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
build=${BUILD_DIR:-build}
scratch=${SCRATCH:-$(mktemp -d)}
out=results/perf/qgemm.jsonl
rb=$build/app/rotbench
run() { echo "+ $*" >&2; "$@"; }
jq -cn --arg d "$(date -u +%FT%TZ)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
    --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    '{bench:"qgemm_meta", date:$d, cpu:$cpu, loadavg:$load}' >>"$out"
# the path rb_qgemm takes here (bench_qgemm's header; no shape is named "none")
best=$("$build/bench/bench_qgemm" 1 1 1 none 2>&1 | sed -n 's/.*qgemm=\([^ ]*\).*/\1/p')
if [ $gemm = 1 ]; then
    run "$build/bench/bench_qgemm" 2048 "$threads" 3 all >>"$out"
fi
eval_modes() { # model args...: fp32, then W8A8 and W4A8 fake and int
    local tag=$1; shift
    run "$rb" eval "$@" --threads "$threads" --json |
        jq -c --arg t "$tag" '{bench:"qgemm_eval", model:$t, mode:"fp32", kernels, ppl, tokens_per_second, n_tokens}' >>"$out"
    for w in 8 4; do
        for k in fake int int-avx2; do
            local env=()
            if [ $k = int-avx2 ]; then
                [ "$best" = avx2 ] && continue
                env=(env RB_QGEMM=avx2)
            fi
            run "${env[@]}" "$rb" eval "$@" --w-bits $w --a-bits 8 --kernels "${k%-avx2}" --threads "$threads" --json |
                jq -c --arg t "$tag" --arg m "W${w}A8" '{bench:"qgemm_eval", model:$t, mode:$m, kernels, int_kernel, ppl, tokens_per_second, n_tokens}' >>"$out"
        done
    done
}
eval_modes stories260K --max-tokens 16384
if [ $synth = 1 ]; then
    run "$rb" synth --out "$scratch/synth.bin" --dim 4096 --hidden 11008 --layers 2 --heads 32 \
        --vocab 32000 --seq-len 2048 --seed 1 >&2
    eval_modes synth-7b-shaped --model "$scratch/synth.bin" --tokenizer "${ROTBENCH_DATA:-/work/shared}/models/llama2-tokenizer/tokenizer.bin" --ctx 2048 --max-tokens 2048
    rm -f "$scratch/synth.bin"
fi
