#!/usr/bin/env bash
# Regenerates every full paper table and plot (results/, plots/) from the
# configs: each paper-table config swept in full, then its tables and plots
# rendered, then the two plots made by other commands (outlier statistics,
# the SpinQuant loss curve).
#
#   scripts/paper_tables.sh [--resume] [--jobs N]
#
# Without --resume each config's results file is rerun from scratch (the old
# one is moved to results/<name>.jsonl.old): many hours on a 2-core machine
# (quarot_table alone is 276 runs).  --resume keeps the finished runs and
# only re-renders what is there plus the missing runs.  The reduced tables
# the paper test suite checks are scripts/ci_tables.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROTBENCH_DATA="${ROTBENCH_DATA:-$(cd .. && pwd)/shared}"
resume=0 jobs=1
while (($#)); do
  case "$1" in
    --resume) resume=1 ;;
    --jobs) jobs="$2"; shift ;;
    *) echo "usage: scripts/paper_tables.sh [--resume] [--jobs N]" >&2; exit 2 ;;
  esac
  shift
done
R=build/app/rotbench
[ -x "$R" ] || scripts/setup.sh
configs=(w8a8_grid gptq_vs_rtn alpha_sweep quarot_table resq_fraction spinquant_table zeroshot mmlu)
for c in "${configs[@]}"; do
  results="results/$c.jsonl"
  if ((resume)); then
    $R sweep "configs/$c.json" --jobs "$jobs" --resume
  else
    [ -f "$results" ] && mv "$results" "$results.old"
    $R sweep "configs/$c.json" --jobs "$jobs"
  fi
  $R table --config "configs/$c.json" --out-dir results >/dev/null
  if grep -q '"plots"' "configs/$c.json"; then
    $R plot --config "configs/$c.json" --out-dir plots
  fi
done
# outlier statistics before/after QuaRot (results/README.md)
$R stats --baseline outliers:count=4:scale=20 --pipeline outliers:count=4:scale=20,quarot \
  --csv results/outliers_quarot.csv --plot plots/outliers_quarot.png >/dev/null
# the SpinQuant loss curve (plots/spinquant_loss.gp reads the CSV)
OMP_NUM_THREADS=1 $R eval --threads 1 --task tinystories --a-bits 4 --kv-bits 4 \
  --pipeline "spinquant:iters=100:loss_log=results/spinquant_loss_stories260K.csv" >/dev/null
(cd plots && gnuplot spinquant_loss.gp)
echo "paper tables: results/*.md, results/*.csv, plots/*"
