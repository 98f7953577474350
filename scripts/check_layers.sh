#!/usr/bin/env bash
# Checks that the include graph points one way:
#
#   base <- kernels <- core <- methods / eval / datasets <- run <- app
#
# A source file may include the project's headers of its own layer and of the
# layers below it, never above (tests/, bench/ and tools/ sit on top and are
# not checked).  Only #include "dir/file.h" lines are read; every project
# include must name its directory.  Prints each offending line as
# file:line: and exits 1 when there is one.
#
#   scripts/check_layers.sh [ROOT]     check the tree at ROOT (default: the repo)
#   scripts/check_layers.sh --self-test  check that an upward include is caught
set -euo pipefail

layer_of() {
    case "$1" in
        base) echo 0 ;;
        kernels) echo 1 ;;
        core) echo 2 ;;
        methods | eval | datasets) echo 3 ;;
        run) echo 4 ;;
        app) echo 5 ;;
        *) echo -1 ;;
    esac
}

check_tree() {
    local root=$1 bad=0 n=0
    local dirs=(base kernels core methods eval datasets run app)
    for d in "${dirs[@]}"; do
        [ -d "$root/$d" ] || continue
        local from
        from=$(layer_of "$d")
        while IFS= read -r hit; do
            # hit: path:line:#include "x/y.h"
            local file=${hit%%:*} rest=${hit#*:}
            local line=${rest%%:*} text=${rest#*:}
            local inc
            inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$text")
            [ -n "$inc" ] || continue
            n=$((n + 1))
            local to_dir=${inc%%/*}
            if [ "$to_dir" = "$inc" ]; then
                echo "${file#"$root"/}:$line: #include \"$inc\" names no directory" >&2
                bad=1
                continue
            fi
            local to
            to=$(layer_of "$to_dir")
            if [ "$to" -lt 0 ]; then
                echo "${file#"$root"/}:$line: $d/ includes $inc (outside the library's layers)" >&2
                bad=1
            elif [ "$to" -gt "$from" ]; then
                echo "${file#"$root"/}:$line: $d/ (layer $from) includes $inc (layer $to): an upward include" >&2
                bad=1
            fi
        done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$root/$d" \
                     --include='*.c' --include='*.h' || true)
    done
    if [ "$bad" -ne 0 ]; then
        echo "check_layers: the include graph points upward (see above)" >&2
        return 1
    fi
    echo "check_layers: $n project includes, none upward"
}

if [ "${1:-}" = "--self-test" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/base" "$tmp/kernels" "$tmp/core"
    printf '#include "base/error.h"\n' >"$tmp/kernels/ok.c"
    printf '#include "base/error.h"\n#include "kernels/ok.h"\n' >"$tmp/core/ok.c"
    check_tree "$tmp" >/dev/null || { echo "self-test: a clean tree was refused" >&2; exit 1; }
    printf '#include "core/model.h"\n' >"$tmp/kernels/up.c"
    if check_tree "$tmp" 2>/dev/null; then
        echo "self-test: kernels/ including core/ was not caught" >&2
        exit 1
    fi
    rm "$tmp/kernels/up.c"
    printf '#include "tests/test_util.h"\n' >"$tmp/core/out.c"
    if check_tree "$tmp" 2>/dev/null; then
        echo "self-test: core/ including tests/ was not caught" >&2
        exit 1
    fi
    echo "check_layers self-test: upward and outside includes are caught"
    exit 0
fi

check_tree "${1:-$(cd "$(dirname "$0")/.." && pwd)}"
