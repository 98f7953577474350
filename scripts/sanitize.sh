#!/usr/bin/env bash
# The whole meson test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (gcc, the compiler of the normal build), in its own build directory.
#
#   scripts/sanitize.sh [meson test arguments...]
#
# Leak detection is on; tests/lsan.supp suppresses only the leaks that are
# not the project's (see that file).  UBSan stops at its first report
# (-fno-sanitize-recover and halt_on_error), so a report fails its test.
# Environment: SAN_BUILD, the build directory (build-san).
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

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
meson test -C "$build" --print-errorlogs "$@"
