#!/usr/bin/env python3
"""Compares two sets of rotbench records bit for bit (a refactor must not move
a number).

usage: scripts/compare_records.py BEFORE AFTER
  BEFORE, AFTER: results files (JSON Lines from `rotbench sweep`) or files
  holding one `rotbench eval --json` record.

Records are matched by run_key (sweep records) or by position.  Every field
is compared, recursively, floats by their exact repr, except timings
(seconds, tokens_per_second, items_per_second, prepare_seconds), the BLAS
kernel name, the GEMM backend and SIMD variant and the sweep name; fields that only one side has are listed,
not failed (a newer binary may record more).  Exit status 1 on any
difference or unmatched record."""
import json, sys

IGNORE = {"seconds", "tokens_per_second", "items_per_second", "prepare_seconds",
          "blas_kernels", "gemm", "simd", "sweep", "args_seen"}

def load(path):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    return {r.get("run_key", str(i)): r for i, r in enumerate(recs)}

def diff(a, b, path, out, only_one):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in IGNORE:
                continue
            if k not in a or k not in b:
                only_one.add(path + k)
                continue
            diff(a[k], b[k], path + k + ".", out, only_one)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, path + str(i) + ".", out, only_one)
    elif repr(a) != repr(b):
        out.append((path.rstrip("."), a, b))

before, after = load(sys.argv[1]), load(sys.argv[2])
missing = set(before) ^ set(after)
out, only_one, n_metrics = [], set(), 0
for k in sorted(set(before) & set(after)):
    diff(before[k], after[k], "", out, only_one)
for r in before.values():
    for m in ("ppl", "nll", "acc", "acc_norm", "n_tokens", "n_items"):
        n_metrics += m in r
print(f"{len(before)} records before, {len(after)} after, {len(missing)} unmatched; "
      f"{len(out)} differing fields; fields on one side only: {sorted(only_one) or 'none'}")
for p, a, b in out[:20]:
    print(f"  {p}: {a!r} != {b!r}")
sys.exit(1 if out or missing else 0)
