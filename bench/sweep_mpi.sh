#!/usr/bin/env bash
# Wall time of a sweep over MPI against the local --jobs sweep on this
# machine, and the MPI runner's overhead per run.
#
#   bench/sweep_mpi.sh [CONFIG] [WORKERS] [THREADS]   (defaults:
#       configs/alpha_sweep.json, 2 workers, --threads 1)
#   MAX_TOKENS=N: every run's --max-tokens (the config's base) is N, for a
#       shorter measurement on a loaded machine
#
# 1. CONFIG (a paper table) twice, into scratch results files:
#    `rotbench sweep --jobs W --threads T` and
#    `mpirun -np W+1 rotbench sweep --mpi --threads T` (W worker ranks doing
#    the same W runs at a time); overhead per run = (MPI - jobs) / runs.
#    The two results files must merge (same records but provenance and
#    timings: `rotbench table` refuses conflicting duplicates).
# 2. The same with a no-op child (a script that prints a record at once),
#    200 runs: what handing a run out and back costs by itself.
# Prints a Markdown section for results/perf/sweep_mpi.md (with the load
# average: this machine is shared, so the numbers move with it).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/alpha_sweep.json}
W=${2:-2}
T=${3:-1}
exe=$PWD/build/app/rotbench
export ROTBENCH_DATA="${ROTBENCH_DATA:-$(cd .. && pwd)/shared}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rotbench-bench-mpi.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# a copy of CONFIG whose results go to $scratch/NAME.jsonl
copy_config() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
import os
c = json.load(open(sys.argv[1])); c["results"] = sys.argv[3]
if os.environ.get("MAX_TOKENS"): c.setdefault("base", {})["max-tokens"] = int(os.environ["MAX_TOKENS"])
json.dump(c, open(sys.argv[2], "w"))
PY
}

measure() { # label config-src n-label extra-args...
  local src=$1 tag=$2
  shift 2
  copy_config "$src" "$scratch/$tag-jobs.json" "$scratch/$tag-jobs.jsonl"
  copy_config "$src" "$scratch/$tag-mpi.json" "$scratch/$tag-mpi.jsonl"
  local t0 t1 t2
  t0=$(now)
  "$exe" sweep "$scratch/$tag-jobs.json" --jobs "$W" --threads "$T" "$@" 2>"$scratch/$tag-jobs.log"
  t1=$(now)
  mpirun --oversubscribe -np $((W + 1)) "$exe" sweep "$scratch/$tag-mpi.json" --mpi \
    --threads "$T" "$@" 2>"$scratch/$tag-mpi.log"
  t2=$(now)
  local n
  n=$(wc -l <"$scratch/$tag-jobs.jsonl")
  [ "$n" -eq "$(wc -l <"$scratch/$tag-mpi.jsonl")" ] || { echo "run counts differ" >&2; exit 1; }
  # the same records, metrics bit for bit (fields only one side has are listed, not failed)
  scripts/compare_records.py "$scratch/$tag-jobs.jsonl" "$scratch/$tag-mpi.jsonl" \
    >"$scratch/$tag-compare.log" 2>&1 || { cat "$scratch/$tag-compare.log" >&2; exit 1; }
  local tj tm
  tj=$(elapsed "$t0" "$t1")
  tm=$(elapsed "$t1" "$t2")
  echo "| $tag | $n | $tj | $tm | $(python3 -c "print(f'{($tm - $tj) / $n * 1000:.0f}')") |"
}

cat >"$scratch/noop" <<'EOF2'
#!/bin/sh
echo '{"ppl": 1.5}'
EOF2
chmod +x "$scratch/noop"
python3 - "$scratch/noop.json" <<'PY'
import json, sys
vals = [{"label": str(i), "args": {"seed": i}} for i in range(200)]
json.dump({"name": "noop", "results": "x.jsonl", "base": {"model": "m"},
           "axes": [{"name": "seed", "values": vals}]}, open(sys.argv[1], "w"))
PY

echo "### $(date -u +%Y-%m-%d) on $(hostname): $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "\`${MAX_TOKENS:+MAX_TOKENS=$MAX_TOKENS }bench/sweep_mpi.sh $config $W $T\`: \`--jobs $W --threads $T\` against"
echo "\`mpirun --oversubscribe -np $((W + 1)) ... --mpi --threads $T\` ($W worker ranks + rank 0)."
echo
echo "| sweep | runs | --jobs $W (s) | MPI, $W workers (s) | MPI overhead per run (ms) |"
echo "|---|---:|---:|---:|---:|"
measure "$config" "$(basename "$config" .json)"
measure "$scratch/noop.json" noop --rotbench "$scratch/noop"
echo
echo "(noop: 200 runs of a child that prints a record at once. MPI's time includes mpirun's start and MPI_Init/Finalize of $((W + 1)) ranks; the"
echo "records of both runs are the same, metrics bit for bit: scripts/compare_records.py.)"
