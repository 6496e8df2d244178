"""Threshold-free box accuracy: MaxBoxAcc and MaxBoxAccV2 (Choe et al., CVPR 2020, "Evaluating Weakly
Supervised Object Localization Methods Right"), as pure functions (docs/evaluation.md).

For every evaluated (image, class) pair the class map is upsampled (bilinear, cell centres, as the box
generators do) to a ``size``×``size`` grid, min–max normalised on its own, and binarised at each
threshold τ of a sweep (``value > τ``, strict, as Choe et al.'s ``cv2.threshold``). Every connected
component (8-neighbourhood) gives a box, mapped to original pixels. Per pair and τ we keep the best IoU
with the pair's ground-truth boxes of

- the box of the **largest** component (MaxBoxAcc, "v1"), and
- **any** component's box (MaxBoxAccV2: boxes from all contours, the best-matching one counts).

BoxAcc(τ, δ) = fraction of pairs whose IoU ≥ δ. MaxBoxAcc = max over τ of BoxAcc(τ, 0.5);
MaxBoxAccV2 = mean over δ ∈ {0.3, 0.5, 0.7} of max over τ of BoxAcc(τ, δ) (all contours). The maximum
is over ONE global τ for the whole set of pairs — the best τ per image would inflate the score (each
image would get its own oracle threshold). Per class, τ is global over that class's pairs; the
``Total`` row uses one τ for all pairs of all classes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from agcl.boxes.components import level_components
from agcl.boxes.geometry import BOX_COLUMNS
from agcl.cam.normalize import minmax_normalize
from agcl.evaluation.localization import TOTAL_ROW, join_codes, pair_codes

IOU_DELTAS = (0.3, 0.5, 0.7)
#: Choe et al.'s sweep (``cam_curve_interval = 0.01``): τ = 0.00, 0.01, …, 0.99.
CURVE_THRESHOLDS = tuple(np.round(np.arange(0.0, 1.0, 0.01), 2).tolist())
KINDS = ("largest", "all")


def _pair_iou(boxes: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """Best IoU of each box with the (zero-padded) GT boxes of its pair. Shapes: [N,4], [N,G,4] -> [N]."""
    b = boxes[:, None, :]
    iw = np.clip(np.minimum(b[..., 2], gts[..., 2]) - np.maximum(b[..., 0], gts[..., 0]), 0, None)
    ih = np.clip(np.minimum(b[..., 3], gts[..., 3]) - np.maximum(b[..., 1], gts[..., 1]), 0, None)
    inter = iw * ih
    union = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
             + (gts[..., 2] - gts[..., 0]) * (gts[..., 3] - gts[..., 1]) - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0).max(axis=1)


def best_iou_curves(maps, gt_boxes: list[np.ndarray], widths, heights, thresholds=CURVE_THRESHOLDS,
                    size: int = 224, chunk: int = 64) -> dict[str, np.ndarray]:
    """Best IoU per pair and threshold, for the largest component's box and for any component's box.

    The components of every τ come from one pass over each map
    (:func:`agcl.boxes.components.level_components`): the map is quantised to the number of
    thresholds it exceeds, so ``value > τ_j`` is the level set ``q > j`` (τ sorted).

    Args:
        maps: one raw class map per pair (any frame resolution; the heatmap contract's image frame).
        gt_boxes: per pair, its GT boxes xyxy in original pixels (at least one).
        widths, heights: original image size per pair.
        thresholds: τ sweep on the min–max normalised map (strict ``>``).
        size: side of the grid the maps are upsampled to before thresholding (224: Choe et al.'s input).

    Shapes: maps [P,h,w]; gt_boxes P × [G_p,4] -> {"largest": [P,T], "all": [P,T]} float64 IoU in [0,1]
    (0 where the map has no component at τ).
    """
    maps = np.asarray(maps, dtype=np.float32)
    n, taus = len(maps), np.asarray(thresholds, dtype=np.float32)
    g_max = max((len(g) for g in gt_boxes), default=1)
    gts = np.zeros((n, g_max, 4))
    for i, g in enumerate(gt_boxes):
        gts[i, :len(g)] = g
    scale = np.stack([np.asarray(widths, float) / size, np.asarray(heights, float) / size] * 2, axis=1)
    out = {k: np.zeros((n, len(taus))) for k in KINDS}
    by_value = np.argsort(taus, kind="stable")
    for s in range(0, n, chunk):
        t = torch.from_numpy(np.ascontiguousarray(maps[s:s + chunk]))[:, None]
        norm = minmax_normalize(F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy())
        comp = level_components(np.searchsorted(taus[by_value], norm, side="left"), connectivity=8)
        if len(comp.level) == 0:  # flat maps: no component at any τ, IoU stays 0
            continue
        idx, j = comp.map_index + s, by_value[comp.level - 1]
        best = _pair_iou(comp.boxes * scale[idx], gts[idx])
        np.maximum.at(out["all"], (idx, j), best)
        order = np.lexsort((comp.first, -comp.size, j, idx))  # per map and τ: largest first, ties: raster order
        head = order[np.r_[True, (idx[order][1:] != idx[order][:-1]) | (j[order][1:] != j[order][:-1])]]
        out["largest"][idx[head], j[head]] = best[head]
    return out


def gt_per_pair(pairs: pd.DataFrame, gt: pd.DataFrame) -> list[np.ndarray]:
    """GT boxes of each (image_id, label) pair. Shapes: -> P × [G_p,4] float64 (empty where none)."""
    if pairs.empty:
        return []
    pi, gi = join_codes(*pair_codes(pairs, gt))
    xy = gt[list(BOX_COLUMNS)].to_numpy(float)[gi]
    return np.split(xy, np.cumsum(np.bincount(pi, minlength=len(pairs)))[:-1])


def box_accuracy_curve(best: dict[str, np.ndarray], pair_labels, labels, thresholds=CURVE_THRESHOLDS,
                       deltas=IOU_DELTAS) -> pd.DataFrame:
    """BoxAcc(τ, δ) per class and for all pairs together (``Total``).

    Shapes: best as from :func:`best_iou_curves`; pair_labels [P] -> long DataFrame: label, boxes
    (largest | all), iou, threshold, acc, n.
    """
    pair_labels = np.asarray(pair_labels)
    rows = []
    for name in [*labels, TOTAL_ROW]:
        sel = np.ones(len(pair_labels), bool) if name == TOTAL_ROW else pair_labels == name
        for kind in KINDS:
            for d in deltas:
                acc = (best[kind][sel] >= d).mean(axis=0) if sel.any() else np.full(len(thresholds), np.nan)
                rows.append(pd.DataFrame({"label": name, "boxes": kind, "iou": d, "threshold": list(thresholds),
                                          "acc": acc, "n": int(sel.sum())}))
    return pd.concat(rows, ignore_index=True)


def max_box_acc(curve: pd.DataFrame) -> pd.DataFrame:
    """MaxBoxAcc (largest component, IoU ≥ 0.5) and MaxBoxAccV2 (all contours, mean over δ) per class.

    Each maximum takes ONE threshold for all pairs of the row (first τ on ties).

    Shapes: curve from :func:`box_accuracy_curve` -> DataFrame: label, n, maxboxacc, maxboxacc_threshold,
    maxboxacc_v2, then v2_iou<δ> and v2_threshold_iou<δ> for each δ.
    """
    out = []
    for name, g in curve.groupby("label", sort=False):
        row: dict = {"label": name, "n": int(g["n"].iloc[0])}
        v1 = g[(g["boxes"] == "largest") & np.isclose(g["iou"], 0.5)].reset_index(drop=True)
        row["maxboxacc"], row["maxboxacc_threshold"] = _best(v1)
        v2 = []
        for d, gd in g[g["boxes"] == "all"].groupby("iou", sort=True):
            acc, tau = _best(gd.reset_index(drop=True))
            row[f"v2_iou{round(d * 100):02d}"], row[f"v2_threshold_iou{round(d * 100):02d}"] = acc, tau
            v2.append(acc)
        row["maxboxacc_v2"] = float(np.mean(v2)) if v2 else float("nan")
        out.append(row)
    cols = ["label", "n", "maxboxacc", "maxboxacc_threshold", "maxboxacc_v2"]
    table = pd.DataFrame(out)
    return table[cols + [c for c in table.columns if c not in cols]]


def _best(g: pd.DataFrame) -> tuple[float, float]:
    if g.empty or g["acc"].isna().all():
        return float("nan"), float("nan")
    i = int(np.nanargmax(g["acc"].to_numpy()))
    return float(g["acc"].iloc[i]), float(g["threshold"].iloc[i])
