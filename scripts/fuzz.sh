#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Builds build-fuzz (CC=clang, -Dfuzz=true) if needed, derives seed corpora
# (tests/fuzz/make_seeds.py, from $ROTBENCH_DATA and the repo's configs/ and
# results/; plus tests/fuzz/seeds/<target>/ when present), runs every target
# found in the build (or the ones named: "model" or "fuzz_model") for
# SECONDS each, and prints per target the executions, exec/s, libFuzzer's
# coverage (cov: edges, ft: features), the corpus size and the crashes.
# Exits 1 when any target crashed, leaked, timed out or ran out of memory;
# the inputs are under $FUZZ_OUT/artifacts/<target>/ and the logs under
# $FUZZ_OUT/logs/.
#
# Environment: FUZZ_JOBS targets at a time (1), FUZZ_BUILD (build-fuzz),
# FUZZ_OUT ($FUZZ_BUILD/fuzz-out; its corpus/ grows from run to run),
# FUZZ_REPORT a file that gets the Markdown table as well.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
seconds=$1
shift
build=${FUZZ_BUILD:-build-fuzz}
out=${FUZZ_OUT:-$build/fuzz-out}
jobs=${FUZZ_JOBS:-1}
export ROTBENCH_DATA="${ROTBENCH_DATA:-$(cd .. && pwd)/shared}"

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is missing (apt-get install clang libclang-rt-14-dev libomp-14-dev)" >&2
  exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=false --buildtype=debugoptimized >"$build.setup.log" 2>&1 ||
    { cat "$build.setup.log" >&2; exit 2; }
  rm -f "$build.setup.log"
fi
meson compile -C "$build" >"$build/compile.log" 2>&1 || { cat "$build/compile.log" >&2; exit 2; }

rm -rf "$out/seeds"
python3 tests/fuzz/make_seeds.py "$out/seeds"
mkdir -p "$out/corpus" "$out/artifacts" "$out/logs"

targets=()
if [ $# -gt 0 ]; then
  for t in "$@"; do targets+=("${t#fuzz_}"); done
else
  for exe in "$build"/tests/fuzz/fuzz_*; do
    [ -f "$exe" ] && [ -x "$exe" ] && targets+=("$(basename "${exe#"$build"/tests/fuzz/fuzz_}")")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets built in $build/tests/fuzz" >&2
  exit 2
fi

# halt on the first UBSan report; leaks are checked by libFuzzer itself
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"

run_target() {
  local t=$1 exe="$build/tests/fuzz/fuzz_$1"
  if [ ! -x "$exe" ]; then
    echo "fuzz: no target $t ($exe)" >"$out/logs/$t.log"
    echo 99 >"$out/logs/$t.rc"
    return
  fi
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  local dirs=("$out/corpus/$t")
  [ -d "$out/seeds/$t" ] && dirs+=("$out/seeds/$t")
  [ -d "tests/fuzz/seeds/$t" ] && dirs+=("tests/fuzz/seeds/$t")
  local rc=0
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t/" "${dirs[@]}" >"$out/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$out/logs/$t.rc"
}

for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzz: $t for ${seconds}s" >&2
  run_target "$t" &
done
wait

crashed=0
table="| target | seconds | executions | exec/s | cov | ft | corpus (files) | crashes |
|---|---:|---:|---:|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  rc=$(cat "$out/logs/$t.rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "$out/corpus/$t" -type f 2>/dev/null | wc -l)
  crashes=$(find "$out/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' -o -name 'death-*' \) 2>/dev/null | wc -l)
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="rc $rc"; fi
  [ "$rc" -ne 0 ] && crashed=1
  table+="
| $t | $seconds | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | $corpus | $crashes |"
done
echo "$table"
[ -n "${FUZZ_REPORT:-}" ] && echo "$table" >"$FUZZ_REPORT"
if [ "$crashed" -ne 0 ]; then
  echo "fuzz: crashes; inputs in $out/artifacts, logs in $out/logs" >&2
  grep -h -A3 -E '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$out"/logs/*.log | head -60 >&2 || true
  exit 1
fi
