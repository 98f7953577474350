#!/usr/bin/env python3
"""Independent reference for tests/test_compare.c: scipy/numpy's answers to
the statistics base/stats.c and eval/compare.c compute.

Reads one JSON object on stdin:
  {"paired": [[d...], confidence], "t_cdf": [[t, df], ...], "t_ppf": [[q, df], ...],
   "quantile": [[x...], [q...]],
   "boot": {"a": [[nll per window] per pair], "b": [...], "tokens": [...],
            "replicates": B, "confidence": c, "stat": "ppl" | "nll",
            "groups": false | true (resample the pairs too)}}
and prints one JSON object with the same keys:
  paired: {mean, std, t, df, p, lo, hi}   (scipy.stats.ttest_rel on d against 0)
  t_cdf, t_ppf: lists of numbers           (scipy.stats.t)
  quantile: list                           (numpy.quantile, method "linear")
  boot: {observed, lo, hi}                 (numpy's own rng: a Monte Carlo estimate)
"""
import json
import sys

import numpy as np
from scipy import stats


def main():
    req = json.load(sys.stdin)
    out = {}
    if "paired" in req:
        d, conf = np.asarray(req["paired"][0], dtype=np.float64), req["paired"][1]
        n = len(d)
        res = stats.ttest_1samp(d, 0.0)  # = ttest_rel(a, b) on d = a - b
        se = d.std(ddof=1) / np.sqrt(n)
        tq = stats.t.ppf((1 + conf) / 2, n - 1)
        out["paired"] = {"mean": d.mean(), "std": d.std(ddof=1), "t": float(res.statistic),
                         "df": n - 1, "p": float(res.pvalue),
                         "lo": d.mean() - tq * se, "hi": d.mean() + tq * se}
    if "t_cdf" in req:
        out["t_cdf"] = [float(stats.t.cdf(t, df)) for t, df in req["t_cdf"]]
    if "t_ppf" in req:
        out["t_ppf"] = [float(stats.t.ppf(q, df)) for q, df in req["t_ppf"]]
    if "quantile" in req:
        x, qs = req["quantile"]
        out["quantile"] = [float(np.quantile(np.asarray(x), q)) for q in qs]
    if "boot" in req:
        b = req["boot"]
        a_n, b_n = np.asarray(b["a"]), np.asarray(b["b"])
        tok = np.asarray(b["tokens"], dtype=np.float64)
        n_pairs, W = a_n.shape
        f = np.exp if b["stat"] == "ppl" else (lambda x: x)
        observed = np.mean(f(a_n.sum(1) / tok.sum()) - f(b_n.sum(1) / tok.sum()))
        rng = np.random.default_rng(12345)
        idx = rng.integers(0, W, size=(b["replicates"], W))
        t = tok[idx].sum(1)                       # [B]
        sa = a_n[:, idx].sum(2)                   # [pairs][B]
        sb = b_n[:, idx].sum(2)
        per_pair = f(sa / t) - f(sb / t)          # [pairs][B]
        if b.get("groups"):
            # the pairs too: replicate r counts pair i as often as it is drawn
            g = rng.integers(0, n_pairs, size=(b["replicates"], n_pairs))
            per_pair = np.take_along_axis(per_pair, g.T, axis=0)
        rep = per_pair.mean(axis=0)
        c = b["confidence"]
        lo, hi = np.quantile(rep, [(1 - c) / 2, (1 + c) / 2])
        out["boot"] = {"observed": float(observed), "lo": float(lo), "hi": float(hi)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
