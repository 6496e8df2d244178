"""Pure statistics of the premise study (benchmarks/premise_study.py): seed quality per source, per-image
localization counts, and the paired bootstrap of AGCL-2 − BSL (vectorised; a plain loop is kept as its oracle).

Nothing here reads or writes files; the study script loads a run directory and passes DataFrames/arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from agcl.cam.align import align_to_image
from agcl.evaluation.bootstrap import bootstrap_aucs, class_mean, resample_counts
from agcl.evaluation.localization import match_boxes, pointing_game
from agcl.pipeline.diagnostics import seed_box_iobb

SOURCES = ("AGL", "S1 severe", "S1 moderate", "S2")


def seed_sources(seeds: pd.DataFrame, severity: pd.DataFrame | None) -> pd.Series:
    """Source of each seeds.csv row: ``AGL``, ``S1 <grade>`` (grade from the mined severity table) or ``S2``.

    Args:
        seeds: ``image_id,label,rule,...`` rows (rule S1 | S2 | AGL).
        severity: ``image_id,label,status,severity`` (the table the run used) or None.
    """
    grade = pd.Series("none", index=seeds.index, dtype=object)
    if severity is not None and len(severity):
        pos = severity[severity["status"] == "positive"]
        rank = {"severe": 3, "moderate": 2, "mild": 1, "none": 0}
        best = (pos.assign(r=pos["severity"].map(rank)).sort_values("r")
                .drop_duplicates(["image_id", "label"], keep="last").set_index(["image_id", "label"])["severity"])
        keys = pd.MultiIndex.from_arrays([seeds["image_id"].astype(str), seeds["label"]])
        grade = pd.Series(best.reindex(keys).fillna("none").to_numpy(), index=seeds.index)
    rule = seeds["rule"].astype(str)
    return pd.Series(np.where(rule == "S1", "S1 " + grade.astype(str), rule), index=seeds.index)


def seed_quality(seeds: pd.DataFrame, maps: np.ndarray, truth: pd.DataFrame, sizes: pd.DataFrame,
                 severity: pd.DataFrame | None, upsample_size: int, geometry: tuple[int, float] | None,
                 t: float = 0.25) -> pd.DataFrame:
    """Per source: seeds, seeds with a truth box, mean IoBB of the seed's cam20 box, IoBB > t rate, and
    the pointing game of the seed map (its argmax inside a truth box of that image and class).

    Uses the pipeline's own seed diagnostic (:func:`agcl.pipeline.diagnostics.seed_box_iobb`) and the
    evaluation's :func:`agcl.evaluation.localization.pointing_game`. The cam20 box of a broad map is close
    to the whole image, so its IoBB tends to the lesion's share of the image whatever the map; pointing
    does not depend on a threshold. ``geometry`` is the backbone's ``(stride, cell_centre)`` (seed maps sit
    on the feature grid), None for image-frame maps.
    Shapes: maps [M,h,w] aligned with ``seeds`` rows; sizes ``image_id,width,height``.
    """
    wh = sizes.set_index("image_id").reindex(seeds["image_id"].astype(str))
    widths, heights = wh["width"].to_numpy(float), wh["height"].to_numpy(float)
    scores = seed_box_iobb(seeds, maps, truth, widths, heights, upsample_size, geometry)
    framed = align_to_image(np.asarray(maps, np.float32), upsample_size, *geometry) if geometry else np.asarray(maps)
    df = pd.DataFrame({"source": seed_sources(seeds, severity).to_numpy(), "iobb": scores})
    pairs = seeds.assign(image_id=seeds["image_id"].astype(str))[["image_id", "label"]]
    gt = truth.assign(image_id=truth["image_id"].astype(str))
    rows = []
    for src in sorted(df["source"].unique(), key=lambda s: (SOURCES.index(s) if s in SOURCES else 99, s)):
        mask = (df["source"] == src).to_numpy()
        scored = df.loc[mask, "iobb"].dropna()
        labels = sorted(pairs.loc[mask, "label"].unique())
        total = pointing_game(framed[mask], pairs[mask].reset_index(drop=True), gt, widths[mask], heights[mask],
                              labels).iloc[-1]
        rows.append({"source": src, "seeds": int(mask.sum()), "with_truth": len(scored),
                     "mean_iobb": float(scored.mean()) if len(scored) else float("nan"),
                     "hit_rate": float((scored > t).mean()) if len(scored) else float("nan"),
                     "pointing": float(total["accuracy"])})
    return pd.DataFrame(rows)


def image_counts(det: pd.DataFrame, gt: pd.DataFrame, image_ids: list[str], t: float = 0.25) -> np.ndarray:
    """Per test image: [GT boxes, GT boxes hit, detected boxes, TP boxes] at overlap IoBB > t.

    ``det`` must already be restricted to the evaluated (image, class) pairs (an eval ``boxes_*.csv``).
    Summing the rows gives Table 2's Total counts. Shapes: -> [len(image_ids), 4] int64.
    """
    tp, hit = match_boxes(det, gt, t, "iobb")
    row = pd.Series(np.arange(len(image_ids)), index=pd.Index(image_ids, dtype=object))
    out = np.zeros((len(image_ids), 4), np.int64)
    for col, ids, weight in ((0, gt["image_id"], 1), (1, gt["image_id"], hit), (2, det["image_id"], 1),
                             (3, det["image_id"], tp)):
        idx = row.reindex(ids.astype(str)).to_numpy()
        keep = ~np.isnan(idx)
        np.add.at(out[:, col], idx[keep].astype(np.int64), np.broadcast_to(weight, len(idx))[keep].astype(np.int64))
    return out


def mean_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mean over classes with both outcomes present of sklearn's ROC AUC. Shapes: y, p [N,K]."""
    vals = [roc_auc_score(y[:, k], p[:, k]) for k in range(y.shape[1]) if 0 < y[:, k].sum() < len(y)]
    return float(np.mean(vals)) if vals else float("nan")


def metrics(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[mean AUC, recall, precision] of one model on a set of images (counts from :func:`image_counts`)."""
    gt, hit, det, tp = counts.sum(axis=0)
    return np.array([mean_auc(y, p), hit / gt if gt else np.nan, tp / det if det else np.nan])


def paired_bootstrap(y: np.ndarray, runs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                     n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """Paired percentile bootstrap of (model B − model A), averaged over training seeds (vectorised).

    Same resamples and numbers as :func:`paired_bootstrap_naive` (``rng.integers(0, N, N)`` per resample from
    ``default_rng(seed)``): each resample is a vector of image counts, AUCs come from
    :func:`agcl.evaluation.bootstrap.bootstrap_aucs` and recall/precision from count-weighted per-image
    localization counts. A class with one outcome only in a resample is left out of that resample's mean
    AUC; a resample with no GT (or no detected) box gives NaN recall (precision) and is left out.

    Args:
        y: test labels [N,K]. runs: per seed ``(p_a [N,K], p_b [N,K], counts_a [N,4], counts_b [N,4])``.

    Returns:
        ``{"point": [3], "lo": [3], "hi": [3], "n_boot": n}`` for [mean AUC, recall, precision] differences.
    """
    n = len(y)
    scores = np.stack([r[i] for i in (0, 1) for r in runs])  # [2S, N, K]: all A's, then all B's
    auc = class_mean(bootstrap_aucs(y, scores, n_boot, seed))  # [2S, B]
    w = np.concatenate(list(resample_counts(n, n_boot, seed))).astype(np.float64)  # [B, N], same resamples
    cnt = w @ np.stack([r[i] for i in (2, 3) for r in runs]).astype(np.float64)  # [2S, B, 4] via broadcasting
    with np.errstate(invalid="ignore", divide="ignore"):
        rec, prec = cnt[..., 1] / cnt[..., 0], cnt[..., 3] / cnt[..., 2]
    per = np.stack([auc, rec, prec], axis=-1)  # [2S, B, 3]
    s = len(runs)
    boots = np.mean(per[s:] - per[:s], axis=0)  # [B, 3]: seed-mean difference per resample
    point = np.mean([metrics(y, pb, cb) - metrics(y, pa, ca) for pa, pb, ca, cb in runs], axis=0)
    lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    return {"point": point.tolist(), "lo": lo.tolist(), "hi": hi.tolist(), "n_boot": n_boot}


def paired_bootstrap_naive(y: np.ndarray, runs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                           n_boot: int = 200, seed: int = 0, alpha: float = 0.05) -> dict:
    """Paired percentile bootstrap of (model B − model A), averaged over training seeds.

    A deliberately simple loop over sklearn's ``roc_auc_score``: the oracle of :func:`paired_bootstrap`. Every resample draws the
    test images once, with replacement, and scores **both** models of **every** seed on those same images
    (all seeds share one test split), so the interval reflects test-set sampling of the seed-mean
    difference; the spread between training seeds is reported separately (sd over seeds).

    Args:
        y: test labels [N,K]. runs: per seed ``(p_a [N,K], p_b [N,K], counts_a [N,4], counts_b [N,4])``.

    Returns:
        ``{"point": [3], "lo": [3], "hi": [3], "n_boot": n}`` for [mean AUC, recall, precision] differences.
    """
    def delta(idx: np.ndarray) -> np.ndarray:
        return np.mean([metrics(y[idx], pb[idx], cb[idx]) - metrics(y[idx], pa[idx], ca[idx])
                        for pa, pb, ca, cb in runs], axis=0)

    rng = np.random.default_rng(seed)
    point = delta(np.arange(len(y)))
    boots = np.array([delta(rng.integers(0, len(y), len(y))) for _ in range(n_boot)])
    lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    return {"point": point.tolist(), "lo": lo.tolist(), "hi": hi.tolist(), "n_boot": n_boot}


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample sd (ddof=1; NaN for one value) over seeds."""
    v = np.asarray(list(values), float)
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
