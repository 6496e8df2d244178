"""Bootstrap AUC CIs at NIH test-split scale: vectorised vs the scikit-learn loop; prints JSON.

    python benchmarks/bench_bootstrap.py              # 4 models x 14 classes x 1,000 resamples, 25,596 rows

Target: the full job (Table 1 CIs of every model plus paired differences against the first model)
in <= 30 s on the 2-core box. The scikit-learn loop (one ``roc_auc_score`` per resample and class)
is timed on a subset of resamples and extrapolated; both are checked equal on that subset.
Synthetic data: NIH-like prevalences (0.2 %-18 %), float32 scores (like predictions.csv; few ties).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from agcl.evaluation.auc import auc_table
from agcl.evaluation.bootstrap import bootstrap_aucs, paired_difference


def synthetic(n: int, k: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prevalence = np.geomspace(0.002, 0.18, k)
    y = (rng.random((n, k)) < prevalence).astype(np.int8)
    scores = np.stack([(rng.random((n, k)) * 0.8 + (0.1 + 0.05 * j) * y).astype(np.float32) for j in range(m)])
    return y, scores


def sklearn_loop(y, s, n_boot, seed):
    rng = np.random.default_rng(seed)
    n, k = y.shape
    out = np.full((n_boot, k), np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        for c in range(k):
            if np.unique(y[idx, c]).size == 2:
                out[b, c] = roc_auc_score(y[idx, c], s[idx, c])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=25_596)
    ap.add_argument("--classes", type=int, default=14)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--sklearn-resamples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    y, scores = synthetic(args.rows, args.classes, args.models, args.seed)
    labels = [f"c{i}" for i in range(args.classes)]

    t0 = time.perf_counter()
    samples = bootstrap_aucs(y, scores, n_boot=args.resamples, seed=args.seed)
    t_samples = time.perf_counter() - t0
    tables = [auc_table(y, scores[j], labels, n_boot=args.resamples, seed=args.seed, samples=samples[j])
              for j in range(args.models)]
    points = [t["auc"].to_numpy()[:-1] for t in tables]
    diffs = [paired_difference(points[j], points[0], samples[j], samples[0]) for j in range(1, args.models)]
    t_total = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = sklearn_loop(y, scores[0], args.sklearn_resamples, args.seed)
    t_sk = time.perf_counter() - t0
    max_abs = float(np.nanmax(np.abs(ref - samples[0, : args.sklearn_resamples])))
    same_nan = bool(np.array_equal(np.isnan(ref), np.isnan(samples[0, : args.sklearn_resamples])))
    sk_full = t_sk / args.sklearn_resamples * args.resamples * args.models
    print(json.dumps({
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "rows": args.rows, "classes": args.classes, "models": args.models, "resamples": args.resamples,
        "vectorised_s": round(t_total, 2), "of_which_resample_aucs_s": round(t_samples, 2),
        "target_s": 30, "met": t_total <= 30,
        "sklearn_loop_subset": {"models": 1, "resamples": args.sklearn_resamples, "s": round(t_sk, 2)},
        "sklearn_loop_extrapolated_s": round(sk_full, 1), "speedup": round(sk_full / t_total, 1),
        "max_abs_diff_vs_sklearn": max_abs, "same_degenerate_resamples": same_nan,
        "degenerate_resamples_per_class": [int(v) for v in np.isnan(samples[0]).sum(axis=0)],
        "mean_diff_ci_model1_vs_0": [round(float(diffs[0][k][-1]), 4) for k in ("diff", "ci_low", "ci_high")]
        if diffs else None,
    }, indent=1))


if __name__ == "__main__":
    main()
