"""Table 2 and related localization metrics (docs/evaluation.md, "Definitions"), as pure functions on DataFrames.

Inputs are box tables in original-image pixels: ground truth ``gt`` with columns
``image_id, label, x0, y0, x1, y1`` and detections ``det`` with the same columns plus ``score``. The
*scope* is a table of evaluated ``(image_id, label)`` pairs — the images that get class-c boxes —
built by :func:`scope_pairs`.

Counting (the paper's): a detected box is a true positive (TP) if it matches **some** GT box of the
same image and class with ``criterion > T`` (strict); a GT box is *hit* if some detected box of that
image and class matches it. Several detections may match one GT box, so TP > GT is possible
(Cardiomegaly in Table 2: 146 GT, 369 TP). recall = GT hit / GT, precision = TP / detected. The GT
count of a class is every test GT box of that class, whatever the scope. Wang's Acc is the recall,
AFP = false-positive boxes / images evaluated for the class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agcl.boxes.geometry import BOX_COLUMNS, contains_point, iobb, iou

SCOPES = ("gt_images", "all_box_images", "predicted_positive")
CRITERIA = ("iobb", "iou", "either")
WANG_T = (0.1, 0.25, 0.5, 0.75, 0.9)
IOU_T = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
TOTAL_ROW = "Total"


def scope_pairs(gt: pd.DataFrame, scope: str = "gt_images", labels=None, predictions: pd.DataFrame | None = None,
                threshold: float = 0.5) -> pd.DataFrame:
    """The (image, class) pairs that get boxes.

    - ``gt_images``: images with a GT box of class c (default; the paper's protocol).
    - ``all_box_images``: every image with any GT box, for every class in ``labels``.
    - ``predicted_positive``: images with any GT box whose predicted probability of c is ``>= threshold``
      (``predictions``: image_id + one column per label; choose the threshold on validation data).

    Shapes: -> DataFrame ``image_id, label`` (unique rows, sorted).
    """
    labels = list(labels) if labels is not None else sorted(gt["label"].unique())
    if scope == "gt_images":
        pairs = gt.loc[gt["label"].isin(labels), ["image_id", "label"]]
    elif scope in ("all_box_images", "predicted_positive"):
        images = pd.Index(gt["image_id"].unique(), name="image_id")
        pairs = pd.MultiIndex.from_product([images, labels], names=["image_id", "label"]).to_frame(index=False)
        if scope == "predicted_positive":
            if predictions is None:
                raise ValueError("scope 'predicted_positive' needs predictions")
            probs = predictions.set_index("image_id")[labels].reindex(images)
            long = probs.stack(future_stack=True).rename("prob").reset_index()
            long.columns = ["image_id", "label", "prob"]
            pairs = long.loc[long["prob"] >= threshold, ["image_id", "label"]]
    else:
        raise ValueError(f"scope {scope!r} is not one of {list(SCOPES)}")
    return pairs.drop_duplicates().sort_values(["image_id", "label"], kind="stable").reset_index(drop=True)


def _overlap(d: np.ndarray, g: np.ndarray, criterion: str) -> np.ndarray:
    if criterion == "iobb":
        return iobb(d, g)
    if criterion == "iou":
        return iou(d, g)
    if criterion == "either":
        return np.maximum(iobb(d, g), iou(d, g))
    raise ValueError(f"criterion {criterion!r} is not one of {list(CRITERIA)}")


def match_boxes(det: pd.DataFrame, gt: pd.DataFrame, t: float = 0.25, criterion: str = "iobb") -> tuple[np.ndarray, np.ndarray]:
    """Match detections to GT boxes of the same image and class with ``overlap > t``.

    Returns:
        ``(tp, hit)``: bool arrays aligned with ``det`` rows (detection is a TP) and ``gt`` rows
        (GT box is hit). Inputs are not modified.
    """
    tp = np.zeros(len(det), dtype=bool)
    hit = np.zeros(len(gt), dtype=bool)
    if len(det) == 0 or len(gt) == 0:
        return tp, hit
    g_groups = gt.reset_index(drop=True).groupby(["image_id", "label"], sort=False).indices
    d_groups = det.reset_index(drop=True).groupby(["image_id", "label"], sort=False).indices
    d_xy, g_xy = det[list(BOX_COLUMNS)].to_numpy(float), gt[list(BOX_COLUMNS)].to_numpy(float)
    for key, gi in g_groups.items():
        di = d_groups.get(key)
        if di is None:
            continue
        ok = _overlap(d_xy[di], g_xy[gi], criterion) > t
        tp[di] |= ok.any(axis=1)
        hit[gi] |= ok.any(axis=0)
    return tp, hit


def _in_scope(det: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    keys = pd.MultiIndex.from_frame(pairs[["image_id", "label"]])
    return det[pd.MultiIndex.from_frame(det[["image_id", "label"]]).isin(keys)]


def localization_table(det: pd.DataFrame, gt: pd.DataFrame, pairs: pd.DataFrame, labels,
                       t: float = 0.25, criterion: str = "iobb") -> pd.DataFrame:
    """Table 2 for one model: per class GT, detected, TP, GT hit, recall, precision, FP, images, AFP.

    Detections outside ``pairs`` are ignored. Recall/precision are NaN when their denominator is 0;
    the ``Total`` row sums the counts and recomputes the ratios (as the paper's Total row).

    Shapes: det [N rows], gt [M rows], pairs [P rows] -> DataFrame of len(labels)+1 rows.
    """
    det = _in_scope(det, pairs)
    tp, hit = match_boxes(det, gt, t, criterion)
    rows = []
    for name in labels:
        d, g = (det["label"] == name).to_numpy(), (gt["label"] == name).to_numpy()
        rows.append({"label": name, "gt": int(g.sum()), "detected": int(d.sum()), "tp": int(tp[d].sum()),
                     "gt_hit": int(hit[g].sum()), "n_images": int((pairs["label"] == name).sum())})
    table = pd.DataFrame(rows)
    total = table.drop(columns="label").sum().to_dict()
    table = pd.concat([table, pd.DataFrame([{"label": TOTAL_ROW, **total}])], ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["recall"] = np.where(table["gt"] > 0, table["gt_hit"] / table["gt"].where(table["gt"] > 0, 1), np.nan)
        table["precision"] = np.where(table["detected"] > 0, table["tp"] / table["detected"].where(table["detected"] > 0, 1), np.nan)
        table["fp"] = table["detected"] - table["tp"]
        table["afp"] = np.where(table["n_images"] > 0, table["fp"] / table["n_images"].where(table["n_images"] > 0, 1), np.nan)
    return table


def threshold_sweep(det: pd.DataFrame, gt: pd.DataFrame, pairs: pd.DataFrame, labels,
                    thresholds=WANG_T, criterion: str = "iobb") -> pd.DataFrame:
    """Wang et al.'s Acc (= recall) and AFP per class at each threshold (IoBB by default; with
    ``criterion="iou"`` and :data:`IOU_T` this is the IoU accuracy table).

    Shapes: -> long DataFrame: label, t, criterion, acc, afp (one row per class and T, plus Total).
    """
    out = []
    for t in thresholds:
        tab = localization_table(det, gt, pairs, labels, t=t, criterion=criterion)
        out.append(pd.DataFrame({"label": tab["label"], "t": t, "criterion": criterion,
                                 "acc": tab["recall"], "afp": tab["afp"]}))
    return pd.concat(out, ignore_index=True)


def pointing_game(heatmaps, pairs: pd.DataFrame, gt: pd.DataFrame, widths, heights, labels,
                  tolerance: float = 0.0) -> pd.DataFrame:
    """Pointing game (Zhang et al. 2016): is the heatmap's argmax within ``tolerance`` original pixels
    of a GT box of the same image and class? ``tolerance=0``: inside the box (edges inclusive); Zhang et
    al. use 15 px on their images.

    The argmax cell (first in raster order on ties) is mapped to original pixels at its centre,
    ``x = (j + 0.5)·width/w``. Only pairs with at least one GT box count.

    Shapes: heatmaps [P,h,w] aligned with ``pairs`` rows; widths/heights [P] -> DataFrame: label,
    n, hits, accuracy (plus Total), tolerance_px.
    """
    maps = np.asarray(heatmaps)
    h, w = maps.shape[1:]
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    xs = (flat % w + 0.5) * np.asarray(widths, float) / w
    ys = (flat // w + 0.5) * np.asarray(heights, float) / h
    groups = gt.groupby(["image_id", "label"], sort=False)
    n = dict.fromkeys(labels, 0)
    hits = dict.fromkeys(labels, 0)
    for i, (image_id, label) in enumerate(zip(pairs["image_id"], pairs["label"], strict=True)):
        if label not in n or (image_id, label) not in groups.groups:
            continue
        boxes = groups.get_group((image_id, label))[list(BOX_COLUMNS)].to_numpy(float)
        n[label] += 1
        hits[label] += bool(contains_point(boxes, xs[i], ys[i]).any()
                            or (tolerance > 0 and (point_distance(boxes, xs[i], ys[i]) <= tolerance).any()))
    table = pd.DataFrame({"label": list(labels), "n": [n[k] for k in labels], "hits": [hits[k] for k in labels]})
    table = pd.concat([table, pd.DataFrame([{"label": TOTAL_ROW, "n": table["n"].sum(), "hits": table["hits"].sum()}])],
                      ignore_index=True)
    table["accuracy"] = np.where(table["n"] > 0, table["hits"] / table["n"].where(table["n"] > 0, 1), np.nan)
    table["tolerance_px"] = float(tolerance)
    return table


def point_distance(boxes: np.ndarray, x: float, y: float) -> np.ndarray:
    """Euclidean distance from a point to each box (0 inside). Shapes: [N,4] -> [N] float."""
    dx = np.maximum.reduce([boxes[:, 0] - x, np.zeros(len(boxes)), x - boxes[:, 2]])
    dy = np.maximum.reduce([boxes[:, 1] - y, np.zeros(len(boxes)), y - boxes[:, 3]])
    return np.hypot(dx, dy)
