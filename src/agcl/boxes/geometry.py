"""Box geometry: the one box type of agcl, frame mappings, IoBB and IoU (vectorised, pairwise).

The box type is an ``[N,4]`` float64 array ``x0, y0, x1, y1`` in **original-image pixels** (the frame of
``boxes.csv`` and of the cache manifest's ``width, height``), with pixel *edges* as coordinates: a box
around pixel columns ``j0..j1`` (inclusive) spans ``x0 = j0`` to ``x1 = j1 + 1``. Tables carry the same
values as columns ``x0, y0, x1, y1`` (+ ``score``).

Frames. The cache stores a plain (possibly anisotropic) resize of each image to S×S, and heatmaps are
at h×w over that S×S image. A point (u, v) of a grid of size (gw, gh) covering the whole image maps to
original pixels as ``x = u · width / gw``, ``y = v · height / gh`` — for the cache grid gw = gh = S
(the contract's ``x = u·width/S``), for a heatmap gw = w, gh = h.
"""

from __future__ import annotations

import numpy as np

#: Column names of box tables (boxes.csv): image_id, label, then these.
BOX_COLUMNS = ("x0", "y0", "x1", "y1")
#: No radiograph is this many pixels wide or tall: a coordinate beyond ±MAX_COORD is a typo (e.g. 1e308),
#: and a box that size would overlap every detection.
MAX_COORD = 65536.0


def box_problems(xyxy, width=None, height=None) -> np.ndarray:
    """Rows of ``xyxy`` that are not a usable ground-truth box.

    A row is refused when a coordinate is not finite or beyond ±:data:`MAX_COORD`, when ``x1 <= x0`` or
    ``y1 <= y0``, when it ends left of or above the image (``x1 <= 0`` or ``y1 <= 0``), and, where the
    image size is known, when it lies entirely outside the image or reaches more than one image size
    beyond it (a box that only overhangs the edge is kept: boxes are
    compared by overlap).

    Shapes: ``xyxy`` [N,4] original pixels; ``width``/``height`` [N] (NaN = unknown) or None; returns
    bool [N].
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(b).all(axis=1) | (np.abs(b) > MAX_COORD).any(axis=1)
        bad |= (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
        bad |= (b[:, 2] <= 0) | (b[:, 3] <= 0)  # outside at the top-left corner, whatever the image size
        if width is not None and height is not None:
            w = np.asarray(width, dtype=np.float64).reshape(-1)
            h = np.asarray(height, dtype=np.float64).reshape(-1)
            known = np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
            outside = (b[:, 0] >= w) | (b[:, 1] >= h)
            too_far = (b[:, 0] < -w) | (b[:, 1] < -h) | (b[:, 2] > 2 * w) | (b[:, 3] > 2 * h)
            bad |= known & (outside | too_far)
    return bad


def as_boxes(boxes) -> np.ndarray:
    """Validate/convert to the box type. Shapes: array-like [N,4] -> float64 [N,4] (xyxy)."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must be [N,4] xyxy, got shape {arr.shape}")
    return arr


def xywh_to_xyxy(xywh) -> np.ndarray:
    """Shapes: [N,4] (x, y, w, h) -> [N,4] (x0, y0, x1, y1), same frame."""
    b = as_boxes(xywh)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def grid_to_original(boxes, grid_size: tuple[int, int], width: float, height: float) -> np.ndarray:
    """Map boxes from a grid covering the whole image (cache S×S or heatmap h×w) to original pixels.

    Args:
        boxes: xyxy in grid pixel edges. grid_size: (grid_height, grid_width). width, height: original
            image size in pixels (cache manifest).

    Shapes: [N,4] -> [N,4] float64, original-image pixels.
    """
    gh, gw = grid_size
    scale = np.array([width / gw, height / gh, width / gw, height / gh])
    return as_boxes(boxes) * scale


def original_to_grid(boxes, grid_size: tuple[int, int], width: float, height: float) -> np.ndarray:
    """Inverse of :func:`grid_to_original`. Shapes: [N,4] -> [N,4] float64 grid pixel edges."""
    gh, gw = grid_size
    scale = np.array([gw / width, gh / height, gw / width, gh / height])
    return as_boxes(boxes) * scale


def cache_to_original(boxes, size: int, width: float, height: float) -> np.ndarray:
    """Cache (S×S) pixels -> original pixels: ``x = u·width/S``, ``y = v·height/S``. Shapes: [N,4] -> [N,4]."""
    return grid_to_original(boxes, (size, size), width, height)


def area(boxes) -> np.ndarray:
    """Shapes: [N,4] -> [N] (zero for degenerate boxes)."""
    b = as_boxes(boxes)
    return _area(b)


def _area(b: np.ndarray) -> np.ndarray:
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of broadcast box arrays. Shapes: a [...,4], b [...,4] -> [...]."""
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    return wh[..., 0] * wh[..., 1]


def _ratios(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoBB (``a`` detected) and IoU of broadcast box arrays, from one intersection. Shapes: -> [...], [...]."""
    inter = _intersection(a, b)
    area_a = _area(a)
    union = area_a + _area(b) - inter
    return (np.divide(inter, area_a, out=np.zeros_like(inter), where=area_a > 0),
            np.divide(inter, union, out=np.zeros_like(inter), where=union > 0))


def intersection(a, b) -> np.ndarray:
    """Pairwise intersection areas. Shapes: a [N,4], b [M,4] -> [N,M]."""
    return _intersection(as_boxes(a)[:, None, :], as_boxes(b)[None, :, :])


def iobb(detected, gt) -> np.ndarray:
    """Intersection over the detected Bounding Box: ``area(D ∩ G) / area(D)`` (Wang et al. 2017).

    Shapes: detected [N,4], gt [M,4] -> [N,M] in [0,1]; a zero-area detected box gives 0.
    """
    inter = intersection(detected, gt)
    a = area(detected)[:, None]
    return np.divide(inter, a, out=np.zeros_like(inter), where=a > 0)


def iou(a, b) -> np.ndarray:
    """Intersection over union. Shapes: a [N,4], b [M,4] -> [N,M] in [0,1] (0 where the union is 0)."""
    inter = intersection(a, b)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def paired_overlaps(detected, gt) -> tuple[np.ndarray, np.ndarray]:
    """IoBB and IoU of row ``i`` of ``detected`` with row ``i`` of ``gt`` (the same arithmetic as
    :func:`iobb` and :func:`iou`, so the values are identical).

    Shapes: detected [N,4], gt [N,4] -> (iobb [N], iou [N]).
    """
    return _ratios(as_boxes(detected), as_boxes(gt))


def contains_point(boxes, x, y) -> np.ndarray:
    """Whether each box contains the point (edges inclusive); ``x, y`` a point or one point per box.
    Shapes: [N,4] -> [N] bool."""
    b = as_boxes(boxes)
    return (b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3])
