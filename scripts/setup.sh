#!/usr/bin/env bash
# Installs whatever rotbench needs that is missing (Debian packages, apt-get;
# idempotent and quiet when nothing is missing), then configures and builds
# ./build.  Options: --bench also installs python3-torch for bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc meson ninja-build pkgconf libopenblas-dev libopenblas-openmp-dev liblapacke-dev libcriterion-dev
      libjson-c-dev libpcre2-dev libcsv-dev gnuplot-nox python3-numpy python3-scipy)
[ "${1:-}" = "--bench" ] && pkgs+=(python3-torch python3-numpy linux-perf)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# Quiet when all is well; the whole log when something fails.
quietly() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: '$*' failed" >&2
    return 1
  fi
  rm -f "$log"
}
if [ ! -f build/build.ninja ]; then
  quietly meson setup build --buildtype=release
fi
quietly meson compile -C build
