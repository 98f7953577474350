#!/usr/bin/env bash
# fp32 GEMM backends, interleaved across processes: OpenBLAS's kernel set is
# chosen once per process (OPENBLAS_CORETYPE), so each round runs one
# bench_gemm process per core type (the first, with the detected kernels,
# also times BLIS and oneDNN), one after another, and the rounds repeat that
# order; results/perf/gemm.md takes each (backend, kernels, shape)'s minimum
# over all rounds.  The load average is recorded before every process.
#
# usage: bench/run_gemm_bench.sh [--T LIST] [--threads LIST] [--rounds N]
#                                [--reps N] [--coretypes LIST] [--backends LIST]
# --backends: what the detected-kernels process times (openblas,blis,onednn)
# env: BUILD_DIR (build), OUT (results/perf/gemm.jsonl)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
Ts="512 2048" threads_list="2 1" rounds=3 reps=2 coretypes="detected SkylakeX Cooperlake" backends=openblas,blis,onednn
while [ $# -gt 0 ]; do
    case $1 in
    --T) Ts=${2//,/ }; shift 2 ;;
    --threads) threads_list=${2//,/ }; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --coretypes) coretypes=${2//,/ }; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
bin=${BUILD_DIR:-build}/bench/bench_gemm
out=${OUT:-results/perf/gemm.jsonl}
commit=$(git rev-parse --short HEAD)
for th in $threads_list; do
    for T in $Ts; do
        for r in $(seq "$rounds"); do
            for ct in $coretypes; do
                load=$(cut -d' ' -f1-3 /proc/loadavg)
                if [ "$ct" = detected ]; then
                    res=$(env -u OPENBLAS_CORETYPE "$bin" --threads "$th" --T "$T" --reps "$reps" --min-seconds 0 --backends "$backends")
                else
                    res=$(OPENBLAS_CORETYPE=$ct "$bin" --threads "$th" --T "$T" --reps "$reps" --min-seconds 0 --backends openblas)
                fi
                echo "$res" | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line); d.update(commit=sys.argv[1], round=int(sys.argv[2]), coretype=sys.argv[3], load_before=sys.argv[4])
    print(json.dumps(d))' "$commit" "$r" "$ct" "$load" | tee -a "$out"
            done
        done
    done
done
