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

from typing import NamedTuple

import numpy as np
import pandas as pd

from agcl.boxes.geometry import BOX_COLUMNS, contains_point, paired_overlaps

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


def boxes_table(det, pairs: pd.DataFrame) -> pd.DataFrame:
    """Detections of the maps of ``pairs`` (row i = map i) as a box table: image_id, label, x0, y0, x1, y1,
    score (original pixels). Shapes: det :class:`agcl.boxes.generators.Detections` with N boxes -> N rows."""
    return pd.DataFrame({"image_id": pairs["image_id"].to_numpy()[det.map_index],
                         "label": pairs["label"].to_numpy()[det.map_index],
                         "x0": det.boxes[:, 0], "y0": det.boxes[:, 1], "x1": det.boxes[:, 2], "y1": det.boxes[:, 3],
                         "score": det.scores})


def pair_codes(*tables: pd.DataFrame) -> list[np.ndarray]:
    """One integer per row naming its ``(image_id, label)``, shared across the tables (equal pairs, equal
    codes). Shapes: tables of N_i rows -> [N_i] int64 each."""
    both = pd.concat([t[["image_id", "label"]] for t in tables], ignore_index=True)
    image = pd.factorize(both["image_id"], use_na_sentinel=False)[0].astype(np.int64)
    label = pd.factorize(both["label"], use_na_sentinel=False)[0]
    code = image * (int(label.max(initial=0)) + 1) + label
    return np.split(code, np.cumsum([len(t) for t in tables])[:-1])


def join_codes(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (left row, right row) with equal codes, left rows in order and, per left row, right rows in
    their order. Shapes: left [N], right [M] -> (li [Q], ri [Q])."""
    order = np.argsort(right, kind="stable")
    lo, hi = np.searchsorted(right[order], left, "left"), np.searchsorted(right[order], left, "right")
    n = hi - lo
    li = np.repeat(np.arange(len(left)), n)
    return li, order[np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))]


class Matches(NamedTuple):
    """Every (detection, GT box) of the same image and class, with both overlaps (paired, so each is
    computed once). Shapes: det, gt [Q] row positions; iobb, iou [Q]."""

    det: np.ndarray
    gt: np.ndarray
    iobb: np.ndarray
    iou: np.ndarray

    def overlap(self, criterion: str) -> np.ndarray:
        if criterion == "iobb":
            return self.iobb
        if criterion == "iou":
            return self.iou
        if criterion == "either":
            return np.maximum(self.iobb, self.iou)
        raise ValueError(f"criterion {criterion!r} is not one of {list(CRITERIA)}")


def find_matches(det: pd.DataFrame, gt: pd.DataFrame) -> Matches:
    """The candidate (detection, GT box) pairs of :func:`match_boxes` and their IoBB and IoU."""
    di, gi = join_codes(*pair_codes(det, gt))
    d_xy, g_xy = det[list(BOX_COLUMNS)].to_numpy(float), gt[list(BOX_COLUMNS)].to_numpy(float)
    return Matches(di, gi, *paired_overlaps(d_xy[di], g_xy[gi]))


def _matched(found: Matches, n_det: int, n_gt: int, t: float, criterion: str) -> tuple[np.ndarray, np.ndarray]:
    ok = found.overlap(criterion) > t
    return (np.bincount(found.det[ok], minlength=n_det) > 0, np.bincount(found.gt[ok], minlength=n_gt) > 0)


def match_boxes(det: pd.DataFrame, gt: pd.DataFrame, t: float = 0.25, criterion: str = "iobb") -> tuple[np.ndarray, np.ndarray]:
    """Match detections to GT boxes of the same image and class with ``overlap > t``.

    Returns:
        ``(tp, hit)``: bool arrays aligned with ``det`` rows (detection is a TP) and ``gt`` rows
        (GT box is hit). Inputs are not modified.
    """
    return _matched(find_matches(det, gt), len(det), len(gt), t, criterion)


def _in_scope(det: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    keys = pd.MultiIndex.from_frame(pairs[["image_id", "label"]])
    return det[pd.MultiIndex.from_frame(det[["image_id", "label"]]).isin(keys)]


class Table2:
    """Table 2 of one box table at any T and criterion: detections outside ``pairs`` are dropped and
    the (detection, GT) overlaps found once; each table is then a few counts.

    Shapes: det [N rows], gt [M rows], pairs [P rows].
    """

    def __init__(self, det: pd.DataFrame, gt: pd.DataFrame, pairs: pd.DataFrame, labels) -> None:
        self.labels = list(labels)
        det = _in_scope(det, pairs)
        self.found = find_matches(det, gt)
        names = pd.Index(self.labels)
        self._det, self._gt = names.get_indexer(det["label"]), names.get_indexer(gt["label"])
        self._n_images = self._count(names.get_indexer(pairs["label"]))

    def _count(self, codes: np.ndarray) -> np.ndarray:
        return np.bincount(codes[codes >= 0], minlength=len(self.labels))

    def table(self, t: float = 0.25, criterion: str = "iobb") -> pd.DataFrame:
        """Per class GT, detected, TP, GT hit, recall, precision, FP, images, AFP (+ ``Total``); see
        :func:`localization_table`."""
        tp, hit = _matched(self.found, len(self._det), len(self._gt), t, criterion)
        table = pd.DataFrame({"label": self.labels, "gt": self._count(self._gt), "detected": self._count(self._det),
                              "tp": self._count(self._det[tp]), "gt_hit": self._count(self._gt[hit]),
                              "n_images": self._n_images})
        total = table.drop(columns="label").sum().to_dict()
        table = pd.concat([table, pd.DataFrame([{"label": TOTAL_ROW, **total}])], ignore_index=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            table["recall"] = np.where(table["gt"] > 0, table["gt_hit"] / table["gt"].where(table["gt"] > 0, 1), np.nan)
            table["precision"] = np.where(table["detected"] > 0, table["tp"] / table["detected"].where(table["detected"] > 0, 1), np.nan)
            table["fp"] = table["detected"] - table["tp"]
            table["afp"] = np.where(table["n_images"] > 0, table["fp"] / table["n_images"].where(table["n_images"] > 0, 1), np.nan)
        return table

    def sweep(self, thresholds=WANG_T, criterion: str = "iobb") -> pd.DataFrame:
        """Acc (= recall) and AFP per class at each threshold; see :func:`threshold_sweep`."""
        out = []
        for t in thresholds:
            tab = self.table(t, criterion)
            out.append(pd.DataFrame({"label": tab["label"], "t": t, "criterion": criterion,
                                     "acc": tab["recall"], "afp": tab["afp"]}))
        return pd.concat(out, ignore_index=True)


def localization_table(det: pd.DataFrame, gt: pd.DataFrame, pairs: pd.DataFrame, labels,
                       t: float = 0.25, criterion: str = "iobb") -> pd.DataFrame:
    """Table 2 for one model: per class GT, detected, TP, GT hit, recall, precision, FP, images, AFP.

    Detections outside ``pairs`` are ignored. Recall/precision are NaN when their denominator is 0;
    the ``Total`` row sums the counts and recomputes the ratios (as the paper's Total row).

    Shapes: det [N rows], gt [M rows], pairs [P rows] -> DataFrame of len(labels)+1 rows.
    """
    return Table2(det, gt, pairs, labels).table(t, criterion)


def threshold_sweep(det: pd.DataFrame, gt: pd.DataFrame, pairs: pd.DataFrame, labels,
                    thresholds=WANG_T, criterion: str = "iobb") -> pd.DataFrame:
    """Wang et al.'s Acc (= recall) and AFP per class at each threshold (IoBB by default; with
    ``criterion="iou"`` and :data:`IOU_T` this is the IoU accuracy table).

    Shapes: -> long DataFrame: label, t, criterion, acc, afp (one row per class and T, plus Total).
    """
    return Table2(det, gt, pairs, labels).sweep(thresholds, criterion)


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
    pi, gi = join_codes(*pair_codes(pairs, gt))
    boxes, x, y = gt[list(BOX_COLUMNS)].to_numpy(float)[gi], xs[pi], ys[pi]
    near = contains_point(boxes, x, y)
    if tolerance > 0:
        near |= point_distance(boxes, x, y) <= tolerance
    code = pd.Index(list(labels)).get_indexer(pairs["label"])
    counted = (code >= 0) & (np.bincount(pi, minlength=len(pairs)) > 0)
    hit = counted & (np.bincount(pi[near], minlength=len(pairs)) > 0)
    table = pd.DataFrame({"label": list(labels), "n": np.bincount(code[counted], minlength=len(labels)),
                          "hits": np.bincount(code[hit], minlength=len(labels))})
    table = pd.concat([table, pd.DataFrame([{"label": TOTAL_ROW, "n": table["n"].sum(), "hits": table["hits"].sum()}])],
                      ignore_index=True)
    table["accuracy"] = np.where(table["n"] > 0, table["hits"] / table["n"].where(table["n"] > 0, 1), np.nan)
    table["tolerance_px"] = float(tolerance)
    return table


def point_distance(boxes: np.ndarray, x, y) -> np.ndarray:
    """Euclidean distance from a point to each box (0 inside); ``x, y`` a point or one point per box.
    Shapes: [N,4] -> [N] float."""
    dx = np.maximum.reduce([boxes[:, 0] - x, np.zeros(len(boxes)), x - boxes[:, 2]])
    dy = np.maximum.reduce([boxes[:, 1] - y, np.zeros(len(boxes)), y - boxes[:, 3]])
    return np.hypot(dx, dy)
