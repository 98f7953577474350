#!/usr/bin/env bash
# Loading a 7B-layer-shaped BF16 sharded Hugging Face checkpoint: 2 layers of
# dim 4096 / FFN 11008 / 32 heads and a 32000 vocabulary (untied), written by
# `rotbench synth --format hf --dtype bf16 --shards 2`.  Measures, warm
# (files in the page cache) and cold (the files' pages dropped with
# posix_fadvise DONTNEED, only these files):
#   - the time to read the files: cat FILES > /dev/null
#   - the wall time of rb_model_open (bench_model_load) and its peak RSS
#     (/usr/bin/time -v), against the size of the fp32 weights it builds.
# Appends JSON lines to results/perf/model_load.jsonl.  Needs ~1.4 GB of disk
# under ${TMPDIR:-/tmp}, ~3 GB of memory, python3 (posix_fadvise) and GNU time.  Usage: bench/model_load.sh [BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=results/perf/model_load.jsonl
dir=$(mktemp -d "${TMPDIR:-/tmp}/rotbench-load-XXXXXX")
trap 'rm -rf "$dir"' EXIT
ck="$dir/hf"
"$build/app/rotbench" synth --out "$ck" --format hf --dtype bf16 --shards 2 \
  --dim 4096 --hidden 11008 --layers 2 --heads 32 --vocab 32000 --seq-len 4096
files=("$ck"/*)
drop() { python3 -c 'import os,sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "${files[@]}"; }
# one bench line with the CPU time and peak RSS of the process added
load() {
  local log line; log=$(mktemp)
  line=$(/usr/bin/time -v "$build/bench/bench_model_load" "$ck" 2> "$log")
  local rss user sys faults
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  faults=$(awk -F': ' '/Minor .*page faults/ {print $2}' "$log")
  user=$(awk -F': ' '/User time/ {print $2}' "$log")
  sys=$(awk -F': ' '/System time/ {print $2}' "$log")
  rm -f "$log"
  echo "${line%\}}, \"user_seconds\": $user, \"sys_seconds\": $sys, \"minor_faults\": $faults, \"peak_rss_kb\": $rss"
}
# wall and CPU seconds of cat FILES > /dev/null
cat_time() {
  local log; log=$(mktemp)
  /usr/bin/time -f '%e %U %S' -o "$log" cat "${files[@]}" > /dev/null
  read -r w u s < "$log"; rm -f "$log"
  echo "\"cat_seconds\": $w, \"cat_cpu_seconds\": $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')"
}
sync
reps=${REPS:-3}
for state in cold warm; do
  for rep in $(seq "$reps"); do
    [ "$state" = cold ] && drop
    ct=$(cat_time)
    [ "$state" = cold ] && drop
    [ "$state" = warm ] && cat "${files[@]}" > /dev/null
    line=$(load)
    echo "$line, \"state\": \"$state\", \"rep\": $rep, $ct, \"load_average\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"host_cpus\": $(nproc)}" | tee -a "$out"
  done
done
