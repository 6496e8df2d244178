"""Deterministic choice of gallery images: best, worst and random (seeded) per class.

An image's score for class c is the share of its (display-normalised) class-c heatmap mass that lies
inside the ground-truth boxes of c — 1.0 means all attention is on the lesion, 0.0 none of it. This
uses no threshold and no box generator, so the gallery shows attention itself (Fig. 3 of the paper).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from agcl.labels import LABEL_INDEX
from agcl.viz.overlays import normalise_for_display

KINDS = ("best", "worst", "random")


def _edge_coverage(lo: float, hi: float, n: int) -> np.ndarray:
    """Fraction of each of ``n`` unit cells [j, j+1) covered by the interval [lo, hi)."""
    j = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(hi, j + 1.0) - np.maximum(lo, j), 0.0, 1.0)


def box_mask(boxes: Sequence[Sequence[float]], frame: tuple[float, float], grid: tuple[int, int]) -> np.ndarray:
    """Fractional coverage of a heatmap grid by the union of boxes given in another pixel frame.

    Args:
        boxes: xyxy boxes in the pixels of ``frame``.
        frame: (width, height) of the boxes' frame (the original image).
        grid: (h, w) of the heatmap, which spans the whole image.

    Shapes: returns ``[h, w]`` float64 in [0, 1].
    """
    h, w = grid
    width, height = frame
    mask = np.zeros((h, w), dtype=np.float64)
    for x0, y0, x1, y1 in boxes:
        cols = _edge_coverage(x0 * w / width, x1 * w / width, w)
        rows = _edge_coverage(y0 * h / height, y1 * h / height, h)
        mask = np.maximum(mask, np.outer(rows, cols))
    return mask


def mass_inside(heatmap: np.ndarray, boxes: Sequence[Sequence[float]], frame: tuple[float, float]) -> float:
    """Share of the min–max normalised heatmap mass inside the boxes (NaN for a constant map).

    Shapes: heatmap ``[h, w]`` float (raw CAM, cache frame spanning the whole image).
    """
    norm = normalise_for_display(heatmap).astype(np.float64)
    total = norm.sum()
    if total <= 0:
        return float("nan")
    return float((norm * box_mask(boxes, frame, norm.shape)).sum() / total)


def score_images(
    heatmaps: np.ndarray,
    heatmap_ids: Sequence[str],
    gt_boxes: pd.DataFrame,
    sizes: pd.DataFrame,
    labels: Sequence[str],
) -> pd.DataFrame:
    """Score every (image, class) pair that has ground-truth boxes and a heatmap.

    Args:
        heatmaps: raw CAM stack, rows aligned with ``heatmap_ids``, channel k = ``labels[k]``.
        heatmap_ids: image ids of the heatmap rows.
        gt_boxes: ``image_id, label, x0, y0, x1, y1`` in original pixels.
        sizes: ``image_id, width, height`` (the boxes' frame).
        labels: channel names of the heatmap stack.

    Returns:
        DataFrame ``image_id, label, score`` (score = :func:`mass_inside`), NaN scores dropped.

    Shapes: heatmaps ``[N, K, h, w]``.
    """
    row_of = {str(i): r for r, i in enumerate(heatmap_ids)}
    chan = {lab: k for k, lab in enumerate(labels)}
    size_of = sizes.set_index("image_id")[["width", "height"]]
    out = []
    for (image_id, label), part in gt_boxes.groupby(["image_id", "label"], sort=True):
        if str(image_id) not in row_of or label not in chan or image_id not in size_of.index:
            continue
        width, height = size_of.loc[image_id]
        cam = np.asarray(heatmaps[row_of[str(image_id)], chan[label]], dtype=np.float32)
        boxes = part[["x0", "y0", "x1", "y1"]].to_numpy(dtype=float)
        out.append((str(image_id), label, mass_inside(cam, boxes, (float(width), float(height)))))
    scores = pd.DataFrame(out, columns=["image_id", "label", "score"])
    return scores.dropna(subset=["score"]).reset_index(drop=True)


def select_gallery(scores: pd.DataFrame, seed: int = 0, n_random: int = 1) -> pd.DataFrame:
    """Pick, per class, the best- and worst-scoring image and ``n_random`` others drawn with ``seed``.

    Ties break by image id, and the random draw uses ``numpy.random.default_rng([seed, class])``, so
    the same inputs always give the same gallery. An image is used at most once per class.

    Returns:
        DataFrame ``label, kind, image_id, score`` ordered by canonical class order, then kind.
    """
    rows = []
    for label in sorted(scores["label"].unique(), key=lambda lab: (LABEL_INDEX.get(lab, 99), lab)):
        part = scores[scores["label"] == label].sort_values(["score", "image_id"], ascending=[False, True])
        if part.empty:
            continue
        picked = {"best": part.iloc[0]}
        rest = part.iloc[1:]
        if not rest.empty:
            worst = rest.sort_values(["score", "image_id"], ascending=[True, True]).iloc[0]
            picked["worst"] = worst
            rest = rest[rest["image_id"] != worst["image_id"]]
        rng = np.random.default_rng([seed, LABEL_INDEX.get(label, 99)])
        take = rng.choice(len(rest), size=min(n_random, len(rest)), replace=False) if len(rest) else []
        for kind, row in picked.items():
            rows.append((label, kind, row["image_id"], float(row["score"])))
        for i in sorted(int(t) for t in take):
            rows.append((label, "random", rest.iloc[i]["image_id"], float(rest.iloc[i]["score"])))
    return pd.DataFrame(rows, columns=["label", "kind", "image_id", "score"])
