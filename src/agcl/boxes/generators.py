"""Heatmap → boxes: the ``wang2017`` and ``cam20`` generators (docs/evaluation.md, "Definitions"), batched.

- ``wang2017`` (Wang et al. 2017, followed by AGCL §3): normalise the map to [0,255], threshold it
  separately at 60 and at 180 (``value >= t``), one box per connected component of each binary map;
  boxes of both thresholds are pooled.
- ``cam20`` (Zhou et al. 2016): keep pixels ``>= 0.2`` of the normalised map's maximum, one box around
  the largest connected component (ties: higher score, then first in raster order).

Options (:class:`BoxSettings`), with defaults:
- ``normalization="minmax"``: per-map min–max to [0,1] (×255 for wang2017). ``"max"`` divides the raw
  map by its maximum instead (Zhou's "fraction of the maximum"; negative CAM values stay below every
  threshold). A map that is constant (minmax) or has max <= 0 (max) gives no boxes.
- ``upsample="before"``: bilinearly upsample the raw CAM (``align_corners=False``: values sit at cell
  centres) from h×w to ``upsample_size``² (default 512, the paper's resolution; ``agcl evaluate``
  passes the cache size S), then normalise and threshold there. ``"after"``: threshold at the heatmap
  resolution and scale the boxes — identical to nearest-neighbour upsampling of the binary mask, and
  much cheaper (for fast inference; coarser boxes).
- ``connectivity=8`` (8-neighbourhood, ``scipy.ndimage.generate_binary_structure(2, 2)``); 4 optional.
- Score of a box: the maximum of the raw (un-normalised, upsampled) heatmap inside its component,
  so scores compare across images.

Batching: all maps of a chunk are upsampled by one ``torch.nn.functional.interpolate`` call and labelled
by one ``scipy.ndimage.label`` call on the stacked ``[M,H,W]`` volume with a structuring element that
does not connect neighbouring maps; component boxes come from ``ndimage.find_objects``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from agcl.boxes.geometry import grid_to_original

GENERATORS = ("wang2017", "cam20")
UPSAMPLE = ("before", "after")
NORMALIZATIONS = ("minmax", "max")


@dataclass(frozen=True)
class BoxSettings:
    """Heatmap → box options (see the module docstring for meanings and defaults)."""

    generator: str = "wang2017"
    upsample: str = "before"
    upsample_size: int = 512
    interpolation: str = "bilinear"
    connectivity: int = 8
    normalization: str = "minmax"
    wang_thresholds: tuple[float, ...] = (60.0, 180.0)
    cam_fraction: float = 0.2

    def __post_init__(self) -> None:
        for name, value, allowed in (("generator", self.generator, GENERATORS), ("upsample", self.upsample, UPSAMPLE),
                                     ("normalization", self.normalization, NORMALIZATIONS),
                                     ("connectivity", self.connectivity, (4, 8))):
            if value not in allowed:
                raise ValueError(f"box setting {name}={value!r} is not one of {list(allowed)}")

    def describe(self) -> dict:
        """Settings as a plain dict (for table headers and JSON)."""
        return {"generator": self.generator, "upsample": self.upsample,
                "upsample_size": self.upsample_size if self.upsample == "before" else None,
                "interpolation": self.interpolation if self.upsample == "before" else "nearest(boxes scaled)",
                "connectivity": self.connectivity, "normalization": self.normalization}


class Detections(NamedTuple):
    """Boxes from a stack of maps. Shapes: map_index [N] int64; boxes [N,4] float64 xyxy original
    pixels; scores [N] float64 (raw heatmap max inside the component)."""

    map_index: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


def _binarise(values: np.ndarray, how: str, levels) -> np.ndarray:
    """Threshold each map at normalised levels without materialising the normalised maps.

    ``norm >= level`` is evaluated as ``value >= lo + level·(hi − lo)`` (minmax) or
    ``value >= level·hi`` (max), one pass per level. Uninformative maps (constant, or max <= 0 for
    'max') give empty masks.

    Shapes: values [M,H,W] raw; levels [T] in [0,1] -> [T·M,H,W] bool (level-major).
    """
    hi = values.max(axis=(1, 2), keepdims=True)
    if how == "minmax":
        lo = values.min(axis=(1, 2), keepdims=True)
        ok = hi > lo
    else:
        lo = np.zeros_like(hi)
        ok = hi > 0
    span = hi - lo
    out = np.empty((len(levels), *values.shape), dtype=bool)
    for i, level in enumerate(levels):
        np.greater_equal(values, np.where(ok, lo + np.float32(level) * span, np.inf), out=out[i])
    return out.reshape(-1, *values.shape[1:])


def _structure(connectivity: int) -> np.ndarray:
    s = np.zeros((3, 3, 3), dtype=bool)
    s[1] = ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)
    return s  # no links between stacked maps


def _components(binary: np.ndarray, values: np.ndarray, connectivity: int):
    """Label every map of a stack at once; per component: map index, grid box, size, score.

    ``binary`` is ``[L,H,W]`` with ``L`` a multiple of ``len(values)`` (several thresholds of the same
    maps); component ``i`` of slice ``l`` belongs to map ``l % len(values)``. Sizes and scores come from
    the component's own bounding window (cheap: no pass over the whole stack).
    """
    labels, n = ndimage.label(binary, structure=_structure(connectivity))
    idx = np.zeros(n, np.int64)
    boxes = np.zeros((n, 4))
    sizes = np.zeros(n, np.int64)
    scores = np.zeros(n)
    for i, sl in enumerate(ndimage.find_objects(labels)):
        m = sl[0].start % len(values)
        inside = labels[sl][0] == i + 1
        idx[i], sizes[i] = m, inside.sum()
        boxes[i] = (sl[2].start, sl[1].start, sl[2].stop, sl[1].stop)
        scores[i] = values[m][sl[1:]][inside].max()
    return idx, boxes, sizes, scores


def _upsample(maps: np.ndarray, settings: BoxSettings) -> np.ndarray:
    if settings.upsample == "after":
        return maps.astype(np.float32, copy=False)
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    size = (settings.upsample_size, settings.upsample_size)
    kw = {"align_corners": False} if settings.interpolation in ("bilinear", "bicubic") else {}
    return F.interpolate(t, size=size, mode=settings.interpolation, **kw)[:, 0].numpy()


def _chunk_boxes(maps: np.ndarray, settings: BoxSettings):
    """Grid-frame components for one chunk of maps [M,h,w]."""
    values = _upsample(maps, settings)
    if settings.generator == "wang2017":
        levels = [t / 255.0 for t in settings.wang_thresholds]
        binary = _binarise(values, settings.normalization, levels)
        idx, boxes, _, scores = _components(binary, values, settings.connectivity)
        return idx, boxes, scores, values.shape[1:]
    binary = _binarise(values, settings.normalization, [settings.cam_fraction])
    idx, boxes, sizes, scores = _components(binary, values, settings.connectivity)
    if len(idx) == 0:
        return idx, boxes, scores, values.shape[1:]
    # largest component per map; ties -> higher score, then first label (raster order)
    order = np.lexsort((np.arange(len(idx)), -scores, -sizes, idx))
    first = order[np.r_[True, idx[order][1:] != idx[order][:-1]]]
    return idx[first], boxes[first], scores[first], values.shape[1:]


def heatmaps_to_boxes(heatmaps, widths, heights, settings: BoxSettings = BoxSettings(), chunk: int = 64,
                      progress: Callable[[int], None] | None = None) -> Detections:
    """Boxes for a stack of heatmaps, each mapped to its own original image size.

    Args:
        heatmaps: raw CAMs in the cache frame (any float dtype; not modified).
        widths, heights: original pixel size of the image of each map (cache manifest).
        settings: generator and options. chunk: maps processed per vectorised call (memory bound).
        progress: optional callback, called with the number of maps done after each chunk.

    Shapes: heatmaps [M,h,w]; widths/heights [M] -> :class:`Detections` with N boxes, sorted by map.
    """
    maps = np.asarray(heatmaps)
    if maps.ndim != 3:
        raise ValueError(f"heatmaps must be [M,h,w], got shape {maps.shape}")
    widths = np.broadcast_to(np.asarray(widths, dtype=np.float64), (len(maps),))
    heights = np.broadcast_to(np.asarray(heights, dtype=np.float64), (len(maps),))
    out_idx, out_boxes, out_scores = [], [], []
    for start in range(0, len(maps), chunk):
        idx, boxes, scores, grid = _chunk_boxes(maps[start:start + chunk].astype(np.float32), settings)
        idx = idx + start
        order = np.argsort(idx, kind="stable")
        idx, boxes, scores = idx[order], boxes[order], scores[order]
        scale = np.stack([widths[idx] / grid[1], heights[idx] / grid[0]] * 2, axis=1)
        out_idx.append(idx)
        out_boxes.append(boxes * scale)
        out_scores.append(scores)
        if progress is not None:
            progress(min(start + chunk, len(maps)))
    if not out_idx:
        return Detections(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    return Detections(np.concatenate(out_idx), np.concatenate(out_boxes), np.concatenate(out_scores))


def heatmap_to_boxes(heatmap, generator: str = "wang2017", *, width: float | None = None, height: float | None = None,
                     **options) -> tuple[np.ndarray, np.ndarray]:
    """Boxes for one heatmap (convenience wrapper of :func:`heatmaps_to_boxes`).

    Args:
        heatmap: raw CAM in the cache frame. generator: ``"wang2017"`` or ``"cam20"``.
        width, height: original image size; default = the upsampled grid (``upsample_size`` for
            ``upsample="before"``, the heatmap size for ``"after"``), i.e. boxes in that grid.
        **options: other :class:`BoxSettings` fields.

    Shapes: heatmap [h,w] -> (boxes [N,4] float64 xyxy original pixels, scores [N]).
    """
    settings = BoxSettings(generator=generator, **options)
    hm = np.asarray(heatmap)
    grid = (settings.upsample_size,) * 2 if settings.upsample == "before" else hm.shape
    det = heatmaps_to_boxes(hm[None], width or grid[1], height or grid[0], settings)
    return det.boxes, det.scores


__all__ = ["BoxSettings", "Detections", "GENERATORS", "grid_to_original", "heatmap_to_boxes", "heatmaps_to_boxes"]
