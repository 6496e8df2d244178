"""Vectorised bootstrap of per-class ROC AUC, and the paired bootstrap of model differences.

A bootstrap resample of N images is a vector of counts (how often each image was drawn). The AUC of a
resample is then a weighted Mann–Whitney statistic over the original rows,

    AUC = sum_{i pos, j neg} w_i w_j (1[s_j < s_i] + ½ 1[s_j = s_i]) / (W_pos W_neg),

which equals scikit-learn's ``roc_auc_score`` on the duplicated rows (ties count one half, as the
trapezoid under the ROC step). The negatives' scores are sorted once per class and model, so every
resample costs a few passes over a [B, N] count matrix instead of one ``roc_auc_score`` call.
Counts are integers, so the running sums are exact and the result equals the loop to rounding.

Resamples are drawn exactly like the per-resample loop ``rng.integers(0, n, size=n)`` with
``numpy.random.default_rng(seed)``, so a seed gives the same resamples (and numbers) as that loop.
A resample in which a class has only positives or only negatives gives NaN for that class; it is left
out of that class's interval, and the count of resamples used is reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

#: Resamples per block: keeps the [block, N] count and running-sum arrays near the CPU cache.
BLOCK = 32


def resample_counts(n: int, n_boot: int, seed: int, block: int = BLOCK) -> Iterator[np.ndarray]:
    """Yield [b, n] int32 count matrices (b ≤ ``block``), ``n_boot`` rows in all, seeded.

    Row r counts how often each image occurs in resample r; the draws are those of
    ``rng.integers(0, n, size=n)`` called once per resample.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.int32)


class _Ranking(NamedTuple):
    """One class and model, sorted once: positives, negatives by score, and each positive's place."""

    pos: np.ndarray  # rows of the positives
    neg: np.ndarray  # rows of the negatives, ascending score
    lo: np.ndarray  # per positive: number of negatives scored strictly below it
    hi: np.ndarray  # per positive: number of negatives scored at or below it


def _ranking(y: np.ndarray, s: np.ndarray) -> _Ranking:
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    neg = neg[np.argsort(s[neg], kind="stable")]
    s_neg = s[neg]
    return _Ranking(pos, neg, np.searchsorted(s_neg, s[pos], side="left"), np.searchsorted(s_neg, s[pos], side="right"))


def _auc_rows(r: _Ranking, weights: np.ndarray) -> np.ndarray:
    # cum[i] = weight of the i lowest negatives, so 2·(weight below) + (weight tied) = cum[lo] + cum[hi]
    cum = np.zeros((weights.shape[0], r.neg.size + 1), dtype=weights.dtype)
    np.cumsum(weights[:, r.neg], axis=1, out=cum[:, 1:])
    w_pos = weights[:, r.pos]
    twice_u = np.einsum("bp,bp->b", w_pos, cum[:, r.lo] + cum[:, r.hi], dtype=np.float64)
    w_p, w_n = w_pos.sum(axis=1, dtype=np.float64), cum[:, -1].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((w_p > 0) & (w_n > 0), twice_u / (2.0 * w_p * w_n), np.nan)


def weighted_auc(y: np.ndarray, s: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of one class under each row of ``weights`` (Mann–Whitney with ties counted ½).

    Negatives are sorted by score once; each positive's place among them (``lo``: negatives strictly
    below, ``hi``: at or below) turns the pair count into two lookups in the running negative weight.
    Integer counts stay exact.

    Shapes: y [N] (0/1), s [N], weights [B, N] (non-negative; integer counts or floats) -> [B]; NaN
    where a row has no positive or no negative weight.
    """
    return _auc_rows(_ranking(y, s), np.asarray(weights))


def bootstrap_aucs(y_true, y_scores, n_boot: int, seed: int = 0, block: int = BLOCK) -> np.ndarray:
    """AUC of every model and class on each of ``n_boot`` seeded resamples (the same for every model).

    Shapes: y_true [N,K] (0/1), y_scores [M,N,K] (or [N,K] for one model) -> [M,B,K] (or [B,K]); NaN where a
    resample has one class value only.
    """
    y = np.asarray(y_true)
    s = np.asarray(y_scores, dtype=np.float64)
    single = s.ndim == 2
    s = s[None] if single else s
    if y.ndim != 2 or s.shape[1:] != y.shape:
        raise ValueError(f"bootstrap inputs do not fit: labels {y.shape}, scores {np.shape(y_scores)}")
    m, n, k = s.shape
    rankings = [[_ranking(y[:, c], s[j, :, c]) for c in range(k)] for j in range(m)]
    out = np.full((m, n_boot, k), np.nan)
    row = 0
    for counts in resample_counts(n, n_boot, seed, block):
        for j in range(m):
            for c in range(k):
                out[j, row:row + len(counts), c] = _auc_rows(rankings[j][c], counts)
        row += len(counts)
    return out[0] if single else out


def class_mean(samples: np.ndarray) -> np.ndarray:
    """Mean over the classes defined in each resample. Shapes: [..., B, K] -> [..., B] (NaN if none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(samples, axis=-1)


def percentile_ci(samples: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval over resamples, NaN resamples left out.

    Shapes: samples [B, C] -> (low [C], high [C], n_valid [C]).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanquantile(samples, alpha / 2, axis=0)
        high = np.nanquantile(samples, 1 - alpha / 2, axis=0)
    return low, high, np.sum(~np.isnan(samples), axis=0)


def paired_difference(point_a: np.ndarray, point_b: np.ndarray, samples_a: np.ndarray, samples_b: np.ndarray,
                      alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Paired bootstrap of AUC(a) − AUC(b) per class and for the mean over defined classes.

    Both sample matrices must come from the same resamples (same seed and test rows), so each
    resample's difference is over identical images. Definedness depends on the labels only, so
    the classes averaged in a resample are the same for both models.

    Shapes: point_a, point_b [K] (full-sample AUCs, NaN where undefined); samples_a, samples_b [B,K]
    -> dict of [K+1] arrays ``diff, ci_low, ci_high, n_valid``; entry K is the mean over classes.
    """
    if samples_a.shape != samples_b.shape:
        raise ValueError(f"paired bootstrap needs the same resamples: {samples_a.shape} vs {samples_b.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        diff = np.r_[point_a - point_b, np.nanmean(point_a) - np.nanmean(point_b)]
    d = samples_a - samples_b
    d = np.concatenate([d, (class_mean(samples_a) - class_mean(samples_b))[:, None]], axis=1)
    low, high, n_valid = percentile_ci(d, alpha)
    return {"diff": diff, "ci_low": low, "ci_high": high, "n_valid": n_valid}
