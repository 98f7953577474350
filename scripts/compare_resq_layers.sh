#!/usr/bin/env bash
# Issue 18's ResQ options decided against the old behaviour by `rotbench
# compare` (as scripts/compare_claims.sh): one Markdown row per option,
# weight quantizer and model, a = the option, b = the old behaviour, claim
# "a < b in ppl", verdict holds / within noise / contradicted with the 95%
# interval of the mean difference (paired bootstrap over seeds and windows).
# Usage:
#   scripts/compare_resq_layers.sh [ROTBENCH] > results/resq_layers_compare.md
set -euo pipefail
cd "$(dirname "$0")/.."
rb=${1:-build/app/rotbench}
F=results/resq_layers.jsonl

row() { # a b
  local a=$1 b=$2 m out st
  for m in stories260K stories260K+outliers; do
    st=0
    out=$("$rb" compare "$F" --a "method=$a" --b "method=$b" --seed 1 \
          --where "model=$m" --expect 'a<b' --json) || st=$?
    [ "$st" -le 4 ] && [ "$st" -ne 1 ] && [ "$st" -ne 2 ] || { echo "compare failed ($st): $a vs $b $m" >&2; exit 1; }
    python3 - "$a" "$b" "$m" "$out" <<'PY'
import json, sys
a, b, model, out = sys.argv[1:]
r = json.loads(out)
kind = {"bootstrap": "bootstrap, seeds+windows" if r["bootstrap"]["resample"] == "seeds+windows"
        else "bootstrap, windows", "t": "t-test"}.get(r["interval"], r["interval"])
p = r["t_test"]["p"]
print(f"| {a} | {b} | {model} | {r['n_pairs']} | {r['mean_a']:.2f} | {r['mean_b']:.2f} "
      f"| {r['mean_diff']:+.2f} | {'—' if p is None else f'{p:.3f}'} "
      f"| [{r['lo']:+.2f}, {r['hi']:+.2f}] ({kind}) | **{r['verdict']}** |")
PY
  done
}

echo "| a (option) | b (old behaviour) | model | pairs | mean a | mean b | a − b | t-test p | 95% interval of a − b | verdict (a < b) |"
echo "|---|---|---|---:|---:|---:|---:|---:|---|---|"
for q in RTN GPTQ; do
  row "ResQ+$q one basis per decoder layer" "ResQ+$q shared basis"
  row "ResQ+$q attention and MLP bases per layer" "ResQ+$q shared basis"
  row "ResQ+$q down PCA blocks of 86" "ResQ+$q down PCA full basis"
  row "ResQ+$q down PCA blocks of 43" "ResQ+$q down PCA full basis"
  row "ResQ+$q down PCA full basis" "ResQ+$q shared basis"
done
