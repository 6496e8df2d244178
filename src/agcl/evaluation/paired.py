"""Paired differences between models over test images, averaged over training seeds (docs/evaluation.md,
"Paired differences across seeds").

One bootstrap serves ``agcl run`` (one seed), ``agcl compare`` (several) and the premise study. A
resample draws the N test images with replacement — exactly the draws of a per-resample
``rng.integers(0, N, N)`` loop seeded by ``default_rng(seed)`` (:func:`agcl.evaluation.bootstrap.resample_counts`)
— and scores **every** model of **every** seed on those same images, so the difference of two models
in one resample is over identical images (paired). The seed-mean difference per resample gives the
percentile interval. The interval describes test-image sampling of the seed-mean difference; the spread
between training seeds is reported beside it (per-seed differences, sd over seeds).

Metrics, each from per-image counts so that a resample only re-weights images:

- ``auc``: mean over classes of ROC AUC (a class with one outcome only in a resample is left out of that
  resample's mean; :func:`agcl.evaluation.bootstrap.bootstrap_aucs`);
- ``recall`` = GT boxes hit / GT boxes, ``precision`` = TP boxes / detected boxes (Table 2's Total row);
- ``pointing`` = pairs whose heatmap argmax falls in a GT box / pairs with a GT box (the pointing game's Total).

A resample with a zero denominator gives NaN for that metric and is left out of its interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from agcl.evaluation.bootstrap import BLOCK, bootstrap_aucs, class_mean, resample_counts
from agcl.evaluation.localization import TOTAL_ROW, match_boxes, pointing_game

#: Per-image count columns (Shapes: counts [N, 6] in this order).
COUNTS = ("gt", "gt_hit", "detected", "tp", "pointed", "pointed_hit")
#: The metrics of every paired difference, in this order.
METRICS = ("auc", "recall", "precision", "pointing")
#: (numerator, denominator) columns of COUNTS for each ratio metric.
_RATIOS = ((1, 0), (3, 2), (5, 4))


def _per_image(image_ids, ids: pd.Series, weights) -> np.ndarray:
    """Sum ``weights`` per image of ``image_ids`` (ids not in it are ignored). Shapes: -> [N] int64."""
    row = pd.Series(np.arange(len(image_ids)), index=pd.Index([str(i) for i in image_ids], dtype=object))
    idx = row.reindex(ids.astype(str)).to_numpy()
    keep = ~np.isnan(idx)
    out = np.zeros(len(image_ids), np.int64)
    np.add.at(out, idx[keep].astype(np.int64), np.broadcast_to(np.asarray(weights), len(idx))[keep].astype(np.int64))
    return out


def box_counts(det: pd.DataFrame, gt: pd.DataFrame, image_ids, t: float = 0.25, criterion: str = "iobb") -> np.ndarray:
    """Per image: [GT boxes, GT boxes hit, detected boxes, TP boxes] at overlap ``criterion > t``.

    ``det`` must already be restricted to the evaluated (image, class) pairs (a model's Table 2 boxes,
    ``eval/boxes_<model>.csv``); summing the rows gives Table 2's Total counts.
    Shapes: -> [len(image_ids), 4] int64.
    """
    tp, hit = match_boxes(det, gt, t, criterion)
    return np.stack([_per_image(image_ids, gt["image_id"], 1), _per_image(image_ids, gt["image_id"], hit),
                     _per_image(image_ids, det["image_id"], 1), _per_image(image_ids, det["image_id"], tp)], axis=1)


def pointing_counts(maps: np.ndarray, pairs: pd.DataFrame, gt: pd.DataFrame, widths, heights, image_ids,
                    tolerance: float = 0.0) -> np.ndarray:
    """Per image: [pairs with a GT box, of which pointed correctly], scored by
    :func:`agcl.evaluation.localization.pointing_game` itself (each pair is made its own class, so the
    game's per-class rows are per-pair results).

    Shapes: maps [P,h,w] aligned with ``pairs`` rows; widths/heights [P] -> [len(image_ids), 2] int64.
    """
    if len(pairs) == 0:
        return np.zeros((len(image_ids), 2), np.int64)
    key = pairs["image_id"].astype(str) + "\x1f" + pairs["label"].astype(str)
    own = gt.assign(label=gt["image_id"].astype(str) + "\x1f" + gt["label"].astype(str))
    table = pointing_game(maps, pairs.assign(label=key.to_numpy()), own, widths, heights, list(key),
                          tolerance=tolerance)
    per_pair = table[table["label"] != TOTAL_ROW]
    ids = pairs["image_id"].astype(str).reset_index(drop=True)
    return np.stack([_per_image(image_ids, ids, per_pair["n"].to_numpy()),
                     _per_image(image_ids, ids, per_pair["hits"].to_numpy())], axis=1)


def mean_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mean over classes with both outcomes present of sklearn's ROC AUC. Shapes: y, p [N,K]."""
    vals = [roc_auc_score(y[:, k], p[:, k]) for k in range(y.shape[1]) if 0 < y[:, k].sum() < len(y)]
    return float(np.mean(vals)) if vals else float("nan")


def _ratios(counts: np.ndarray) -> np.ndarray:
    """Shapes: counts [..., 6] -> [..., 3] (recall, precision, pointing; NaN where the denominator is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.where(counts[..., d] > 0, counts[..., n] / np.maximum(counts[..., d], 1), np.nan)
                         for n, d in _RATIOS], axis=-1)


def point_metrics(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[mean AUC, recall, precision, pointing] of one model on all test images. Shapes: y, p [N,K]; counts [N,6]."""
    return np.r_[mean_auc(y, p), _ratios(np.asarray(counts, np.float64).sum(axis=0))]


@dataclass(frozen=True)
class Resampled:
    """Every model × seed scored on the same resamples.

    Attributes:
        point: full-sample metrics [R, 4] (R = one row per model × seed, in the caller's order).
        boots: the metrics on each resample [R, B, 4].
        n_boot, seed: how the resamples were drawn.
    """

    point: np.ndarray
    boots: np.ndarray
    n_boot: int
    seed: int


def resample(y: np.ndarray, scores: np.ndarray, counts: np.ndarray, n_boot: int = 1000, seed: int = 0) -> Resampled:
    """Score R prediction sets on the same ``n_boot`` resamples of the N test images (vectorised).

    Shapes: y [N,K] (0/1); scores [R,N,K]; counts [R,N,6] (:data:`COUNTS`) -> :class:`Resampled`.
    """
    scores, counts = np.asarray(scores, np.float64), np.asarray(counts, np.float64)
    if scores.ndim != 3 or counts.shape[:2] != scores.shape[:2] or counts.shape[2] != len(COUNTS):
        raise ValueError(f"paired bootstrap inputs do not fit: scores {scores.shape}, counts {counts.shape}")
    auc = class_mean(bootstrap_aucs(y, scores, n_boot, seed))  # [R, B]
    cnt = np.empty((len(scores), n_boot, len(COUNTS)))
    row = 0
    for w in resample_counts(len(y), n_boot, seed, BLOCK):  # the same draws as bootstrap_aucs
        cnt[:, row:row + len(w)] = np.einsum("bn,rnc->rbc", w.astype(np.float64), counts)
        row += len(w)
    boots = np.concatenate([auc[..., None], _ratios(cnt)], axis=-1)
    point = np.stack([point_metrics(y, s, c) for s, c in zip(scores, counts, strict=True)])
    return Resampled(point, boots, n_boot, seed)


def difference(res: Resampled, a: list[int], b: list[int], alpha: float = 0.05) -> dict:
    """Paired difference b − a, averaged over seeds: ``a[s]``/``b[s]`` are the rows of seed s's models.

    Returns:
        ``point`` [4] (seed-mean of the full-sample differences), ``lo``/``hi`` [4] (percentile 1 − alpha
        interval of the seed-mean difference over resamples, NaN resamples left out), ``n_valid`` [4]
        (resamples used), ``per_seed`` [S, 4] (each seed's full-sample difference).
    """
    if len(a) != len(b) or not a:
        raise ValueError("paired difference needs one (a, b) row pair per seed")
    per_seed = res.point[b] - res.point[a]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        boots = np.mean(res.boots[b] - res.boots[a], axis=0)  # [B, 4]: NaN if any seed's resample is NaN
        lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
        point = np.mean(per_seed, axis=0)
    return {"point": point, "lo": lo, "hi": hi, "n_valid": np.sum(~np.isnan(boots), axis=0), "per_seed": per_seed}


def paired_bootstrap(y: np.ndarray, runs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                     n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """Paired percentile bootstrap of (model B − model A), averaged over training seeds.

    Args:
        y: test labels [N,K]. runs: per seed ``(p_a [N,K], p_b [N,K], counts_a [N,6], counts_b [N,6])``.

    Returns:
        ``{"point", "lo", "hi", "n_valid", "per_seed", "n_boot"}`` for :data:`METRICS` (see :func:`difference`).
    """
    s = len(runs)
    res = resample(y, np.stack([r[i] for i in (0, 1) for r in runs]), np.stack([r[i] for i in (2, 3) for r in runs]),
                   n_boot, seed)
    out = difference(res, list(range(s)), list(range(s, 2 * s)), alpha)
    return {**{k: np.asarray(v).tolist() for k, v in out.items()}, "n_boot": n_boot}


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample sd (ddof=1; NaN for one value) over seeds, NaN values left out."""
    v = np.asarray(list(values), float)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan"), float("nan")
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")


def image_counts(boxes: pd.DataFrame, maps: np.ndarray, pairs: pd.DataFrame, test, t: float = 0.25,
                 criterion: str = "iobb", tolerance: float = 0.0) -> np.ndarray:
    """Per-image :data:`COUNTS` of one model: its Table 2 boxes (restricted to ``pairs``) and the pointing
    game of its maps. ``test``: the :class:`agcl.evaluation.inputs.TestSet` (images, gt, sizes).

    Shapes: maps [P,h,w] aligned with ``pairs`` rows -> [len(test.images), 6] int64.
    """
    wh = test.sizes.set_index("image_id").reindex(pairs["image_id"])
    ids = test.images["image_id"]
    return np.hstack([box_counts(boxes, test.gt, ids, t, criterion),
                      pointing_counts(maps, pairs, test.gt, wh["width"].to_numpy(), wh["height"].to_numpy(), ids,
                                      tolerance)])


def model_counts(result, predictions: pd.DataFrame, heat_ids: list[str], heatmaps: np.ndarray, test,
                 settings) -> np.ndarray:
    """:func:`image_counts` of one evaluated model, checked against its Table 2 and pointing-game Total rows.

    Args:
        result: the model's :class:`agcl.evaluation.ModelResult` (its Table 2 boxes and tables).
        predictions, heat_ids, heatmaps: what :func:`agcl.evaluation.evaluate_model` scored.
        test: the :class:`agcl.evaluation.inputs.TestSet`. settings: the :class:`EvalSettings` used.

    Shapes: heatmaps [N',14,h,w] -> [len(test.images), 6] int64.
    """
    from agcl.evaluation.core import select_maps
    from agcl.evaluation.localization import scope_pairs

    labels = [k for k in result.localization["label"] if k != TOTAL_ROW]
    pairs = scope_pairs(test.gt, settings.scope, labels, predictions, settings.threshold)
    counts = image_counts(result.boxes, select_maps(heat_ids, heatmaps, pairs), pairs, test, settings.t,
                          settings.criterion, settings.pointing_tolerance)
    loc = result.localization.set_index("label").loc[TOTAL_ROW]
    point = result.pointing.set_index("label").loc[TOTAL_ROW]
    want = [int(v) for v in (loc["gt"], loc["gt_hit"], loc["detected"], loc["tp"], point["n"], point["hits"])]
    if counts.sum(axis=0).tolist() != want:  # pragma: no cover - an internal invariant
        raise RuntimeError(f"{result.name}: per-image counts {counts.sum(axis=0).tolist()} do not add up to "
                           f"the Total rows {want}")
    return counts
