# Sourced by scripts/compare_*.sh: one Markdown row of a `rotbench compare`
# verdict.
#   compare_row ROTBENCH FILE A B WHERE CELLS
# compares method=A (a) with method=B (b) in FILE over the records matching
# WHERE, paired by seed, expecting a < b in ppl, and prints
#   | CELLS | pairs | mean a | mean b | a − b | t-test p | 95% interval (kind) | **verdict** |
# CELLS: the row's leading cells, already joined with " | ".  Exits the
# calling script when compare fails (its status 1 or 2, or above 4).
compare_row() {
  local rb=$1 file=$2 a=$3 b=$4 where=$5 cells=$6 out st=0
  out=$("$rb" compare "$file" --a "method=$a" --b "method=$b" --seed 1 \
        --where "$where" --expect 'a<b' --json) || st=$?
  [ "$st" -le 4 ] && [ "$st" -ne 1 ] && [ "$st" -ne 2 ] ||
    { echo "compare failed ($st): $a vs $b, $where" >&2; exit 1; }
  python3 - "$cells" "$out" <<'PY'
import json, sys
cells, out = sys.argv[1:]
r = json.loads(out)
kind = {"bootstrap": "bootstrap, seeds+windows" if r["bootstrap"]["resample"] == "seeds+windows"
        else "bootstrap, windows", "t": "t-test"}.get(r["interval"], r["interval"])
p = r["t_test"]["p"]
print(f"| {cells} | {r['n_pairs']} | {r['mean_a']:.2f} | {r['mean_b']:.2f} "
      f"| {r['mean_diff']:+.2f} | {'—' if p is None else f'{p:.3f}'} "
      f"| [{r['lo']:+.2f}, {r['hi']:+.2f}] ({kind}) | **{r['verdict']}** |")
PY
}
