#!/usr/bin/env bash
# The meson test suite (all but the paper suite) under AddressSanitizer + UndefinedBehaviorSanitizer
# (gcc, the compiler of the normal build), in its own build directory.
#
#   scripts/sanitize.sh [meson test arguments...]
#
# Leak detection is on; tests/lsan.supp suppresses only the leaks that are
# not the project's (see that file).  UBSan stops at its first report
# (-fno-sanitize-recover and halt_on_error), so a report fails its test.
# Every report (ASan, LSan, UBSan, from the test programs and the rotbench
# children they run) is also written to <build>/sanitizer-reports/ and fails
# the run: Criterion counts a test whose worker leaked at exit as passed, so
# meson's verdict alone would miss leaks.
# Environment: SAN_BUILD, the build directory (build-san);
# SAN_TIMEOUT_MULTIPLIER, of the tests' meson timeouts (4).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SAN_BUILD:-build-san}
export ROTBENCH_DATA="${ROTBENCH_DATA:-$(cd .. && pwd)/shared}"

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=debugoptimized -Db_sanitize=address,undefined \
    -Dc_args=-fno-sanitize-recover=undefined -Dc_link_args=-fno-sanitize-recover=undefined \
    >"$build.setup.log" 2>&1 || { cat "$build.setup.log" >&2; exit 2; }
  rm -f "$build.setup.log"
fi
meson compile -C "$build" >"$build/compile.log" 2>&1 || { cat "$build/compile.log" >&2; exit 2; }

reports="$PWD/$build/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# fast_unwind_on_malloc=0: full malloc stacks, which tests/lsan.supp needs
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:log_path=$reports/asan:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan:${UBSAN_OPTIONS:-}"
status=0
# ASan+UBSan make the numeric suites 2-4x slower: longer meson timeouts.
# The paper suite (whole reduced sweeps, minutes in the normal build; its code
# paths are the ones the unit suites run) is left out.
meson test -C "$build" --print-errorlogs --timeout-multiplier "${SAN_TIMEOUT_MULTIPLIER:-4}" \
  --no-suite paper "$@" ||
  status=$?
n=$(find "$reports" -type f | wc -l)
if [ "$n" -gt 0 ]; then
  echo "sanitize: $n sanitizer report(s) in $reports:" >&2
  find "$reports" -type f -exec sh -c 'echo "== $1"; head -40 "$1"' _ {} \; >&2
  [ "$status" -eq 0 ] && status=1
else
  echo "sanitize: no sanitizer reports"
fi
exit "$status"
