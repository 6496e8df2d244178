"""Table 1: per-class ROC AUC (sklearn ``roc_auc_score`` semantics), mean over defined classes,
optional seeded bootstrap 95 % confidence intervals (percentile method, resampling images)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

log = logging.getLogger(__name__)
MEAN_ROW = "Mean"


def _auc_or_nan(y: np.ndarray, s: np.ndarray) -> float:
    if y.size == 0 or np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


def per_class_auc(y_true, y_score, labels, mask=None) -> pd.DataFrame:
    """AUC of every class; a class where only one label value is present gets NaN and a warning.

    Args:
        y_true: 0/1 labels. y_score: scores (probabilities). labels: class names (columns).
        mask: optional, 1 where the label is known; unknown entries are left out of that class.

    Shapes: y_true, y_score, mask [N,K] -> DataFrame with K rows: label, auc, n_pos, n_neg.
    """
    y, s = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 2 or y.shape[1] != len(labels):
        raise ValueError(f"AUC inputs do not fit: labels {y.shape}, scores {s.shape}, {len(labels)} names")
    m = np.ones_like(y, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    rows = []
    for k, name in enumerate(labels):
        yk, sk = y[m[:, k], k], s[m[:, k], k]
        auc = _auc_or_nan(yk, sk)
        if np.isnan(auc):
            msg = f"AUC undefined for {name}: only one class present ({int(yk.sum())} positives of {yk.size})"
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            log.warning(msg)
        rows.append({"label": name, "auc": auc, "n_pos": int(yk.sum()), "n_neg": int(yk.size - yk.sum())})
    return pd.DataFrame(rows)


def bootstrap_auc_ci(y_true, y_score, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> np.ndarray:
    """Percentile bootstrap CI per class and for the mean (images resampled with replacement).

    Degenerate resamples (one class value present) are skipped for that class; the mean of a resample
    is over its defined classes.

    Shapes: y_true, y_score [N,K] -> [K+1, 2] (low, high); row K is the mean AUC. NaN where undefined.
    """
    y, s = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n, k = y.shape
    samples = np.full((n_boot, k), np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        for c in range(k):
            samples[b, c] = _auc_or_nan(y[idx, c], s[idx, c])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(samples, axis=1)
        allv = np.concatenate([samples, means[:, None]], axis=1)
        return np.stack([np.nanquantile(allv, alpha / 2, axis=0), np.nanquantile(allv, 1 - alpha / 2, axis=0)], axis=1)


def auc_table(y_true, y_score, labels, mask=None, n_boot: int = 0, seed: int = 0) -> pd.DataFrame:
    """Table 1 for one model: per-class AUC plus a ``Mean`` row over classes with a defined AUC.

    The mean row's ``n_classes`` column is the number of classes averaged. With ``n_boot > 0`` the
    columns ``ci_low, ci_high`` hold seeded bootstrap 95 % intervals (only when ``mask`` is None).

    Shapes: y_true, y_score [N,K] -> DataFrame of K+1 rows: label, auc, n_pos, n_neg, n_classes[, ci_low, ci_high].
    """
    table = per_class_auc(y_true, y_score, labels, mask)
    valid = table["auc"].notna()
    mean = {"label": MEAN_ROW, "auc": float(table.loc[valid, "auc"].mean()) if valid.any() else float("nan"),
            "n_pos": int(table["n_pos"].sum()), "n_neg": int(table["n_neg"].sum())}
    table["n_classes"] = 1
    mean["n_classes"] = int(valid.sum())
    table = pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
    if n_boot > 0:
        if mask is not None:
            raise ValueError("bootstrap CIs need fully known labels (mask=None)")
        ci = bootstrap_auc_ci(y_true, y_score, n_boot=n_boot, seed=seed)
        table["ci_low"], table["ci_high"] = ci[:, 0], ci[:, 1]
    return table
