"""Table 1: per-class ROC AUC (sklearn ``roc_auc_score`` semantics), mean over defined classes,
optional seeded bootstrap 95 % confidence intervals (percentile method, resampling images; computed by
:mod:`agcl.evaluation.bootstrap`)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from agcl.evaluation.bootstrap import bootstrap_aucs, class_mean, paired_difference, percentile_ci

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


def bootstrap_auc_ci(y_true, y_score, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
                     samples: np.ndarray | None = None) -> np.ndarray:
    """Percentile bootstrap CI per class and for the mean (images resampled with replacement).

    Vectorised (:mod:`agcl.evaluation.bootstrap`); the resamples are those of a per-resample
    ``rng.integers(0, n, size=n)`` loop. Degenerate resamples (one class value present) are left out
    for that class; the mean of a resample is over its defined classes. ``samples`` ([B,K], from
    :func:`~agcl.evaluation.bootstrap.bootstrap_aucs`) skips the resampling.

    Shapes: y_true, y_score [N,K] -> [K+1, 3] (low, high, resamples used); row K is the mean AUC.
    NaN where undefined.
    """
    if samples is None:
        samples = bootstrap_aucs(y_true, y_score, n_boot=n_boot, seed=seed)
    allv = np.concatenate([samples, class_mean(samples)[:, None]], axis=1)
    low, high, n_valid = percentile_ci(allv, alpha)
    return np.stack([low, high, n_valid], axis=1)


def auc_table(y_true, y_score, labels, mask=None, n_boot: int = 0, seed: int = 0,
              samples: np.ndarray | None = None) -> pd.DataFrame:
    """Table 1 for one model: per-class AUC plus a ``Mean`` row over classes with a defined AUC.

    The mean row's ``n_classes`` column is the number of classes averaged. With ``n_boot > 0`` the
    columns ``ci_low, ci_high`` hold seeded bootstrap 95 % intervals (only when ``mask`` is None) and
    ``n_boot_valid`` the resamples they rest on (degenerate resamples left out). ``samples``: the
    bootstrap AUCs [n_boot, K] when already computed.

    Shapes: y_true, y_score [N,K] -> DataFrame of K+1 rows: label, auc, n_pos, n_neg, n_classes
    [, ci_low, ci_high, n_boot_valid].
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
        ci = bootstrap_auc_ci(y_true, y_score, n_boot=n_boot, seed=seed, samples=samples)
        table["ci_low"], table["ci_high"], table["n_boot_valid"] = ci[:, 0], ci[:, 1], ci[:, 2].astype(int)
    return table


def paired_auc_table(models: list[tuple[str, pd.DataFrame, np.ndarray]], alpha: float = 0.05) -> pd.DataFrame:
    """Paired bootstrap of each model's AUC minus the first model's (the reference), per class and mean.

    Args:
        models: (name, :func:`auc_table` result, bootstrap AUCs [B,K]) per model; every sample matrix
            must come from the same resamples (same test rows, ``n_boot`` and seed).

    Returns: one row per later model × (class, ``Mean``): model, reference, label, auc, auc_reference,
        diff, ci_low, ci_high (percentile, 1 − alpha), n_boot_valid (resamples defined for the class).
    """
    (ref_name, ref_table, ref_samples), rows = models[0], []
    ref_point = ref_table["auc"].to_numpy()[:-1]
    for name, table, samples in models[1:]:
        d = paired_difference(table["auc"].to_numpy()[:-1], ref_point, samples, ref_samples, alpha)
        rows.append(pd.DataFrame({"model": name, "reference": ref_name, "label": table["label"].to_numpy(),
                                  "auc": table["auc"].to_numpy(), "auc_reference": ref_table["auc"].to_numpy(),
                                  "diff": d["diff"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                                  "n_boot_valid": d["n_valid"]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
