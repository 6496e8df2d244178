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

Batching: all maps of a chunk are upsampled by one ``torch.nn.functional.interpolate`` call, quantised
to the levels they reach, and their components found for all levels at once
(:func:`agcl.boxes.components.level_components`: sizes, boxes and scores are vectorised reductions,
no per-component Python). :func:`heatmaps_to_boxes_many` shares that work between settings that differ
only in their levels (the calibration grid).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from agcl.boxes.components import LevelComponents, level_components
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


def _quantise(values: np.ndarray, how: str, levels) -> np.ndarray:
    """How many of the (ascending) normalised levels each value reaches, without materialising the
    normalised maps: ``q >= i + 1`` iff ``norm >= levels[i]``.

    ``norm >= level`` is evaluated as ``value >= lo + level·(hi − lo)`` (minmax) or ``value >= level·hi``
    (max) in float32; these thresholds grow with the level, so the level sets nest. Uninformative maps
    (constant, or max <= 0 for 'max') reach no level.

    Shapes: values [M,H,W] raw; levels [T] ascending in [0,1] -> q [M,H,W] uint8.
    """
    hi = values.max(axis=(1, 2), keepdims=True)
    if how == "minmax":
        lo = values.min(axis=(1, 2), keepdims=True)
        ok = hi > lo
    else:
        lo = np.zeros_like(hi)
        ok = hi > 0
    span = hi - lo
    q = np.zeros(values.shape, dtype=np.uint8 if len(levels) < 256 else np.uint16)
    for level in levels:
        q += values >= np.where(ok, lo + np.float32(level) * span, np.inf)
    return q


def _levels(settings: BoxSettings) -> list[float]:
    """The normalised levels a generator thresholds at, in its order."""
    if settings.generator == "wang2017":
        return [t / 255.0 for t in settings.wang_thresholds]
    return [settings.cam_fraction]


def _upsample(maps: np.ndarray, settings: BoxSettings) -> np.ndarray:
    if settings.upsample == "after":
        return maps.astype(np.float32, copy=False)
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    size = (settings.upsample_size, settings.upsample_size)
    kw = {"align_corners": False} if settings.interpolation in ("bilinear", "bicubic") else {}
    return F.interpolate(t, size=size, mode=settings.interpolation, **kw)[:, 0].numpy()


def _select(comp: LevelComponents, settings: BoxSettings, level_of: dict) -> tuple[np.ndarray, ...]:
    """One generator's boxes from the components of a chunk: ``wang2017`` pools its levels' components
    (per map: first level first, each in raster order); ``cam20`` keeps the largest component per map
    (ties: higher score, then first in raster order). Shapes: -> idx, boxes, scores (sorted by map)."""
    picks = [np.flatnonzero(comp.level == level_of[np.float32(v)]) for v in _levels(settings)]
    position = np.repeat(np.arange(len(picks)), [len(p) for p in picks])
    rows = np.concatenate(picks)
    if settings.generator == "wang2017":
        rows = rows[np.lexsort((comp.first[rows], position, comp.map_index[rows]))]
    else:
        rows = rows[np.lexsort((comp.first[rows], -comp.score[rows], -comp.size[rows], comp.map_index[rows]))]
        idx = comp.map_index[rows]
        rows = rows[np.r_[True, idx[1:] != idx[:-1]]] if len(rows) else rows
    return comp.map_index[rows], comp.boxes[rows], comp.score[rows].astype(np.float64)


def heatmaps_to_boxes_many(heatmaps, widths, heights, settings: list[BoxSettings], chunk: int = 64,
                           progress: Callable[[int], None] | None = None) -> list[Detections]:
    """Boxes of the same heatmaps under several settings (e.g. a grid of thresholds).

    Settings that share the upsampling, normalisation and connectivity share one upsampled map and one
    labelling of all their levels (:func:`agcl.boxes.components.level_components`); each result equals
    :func:`heatmaps_to_boxes` with that setting.

    Shapes: heatmaps [M,h,w]; widths/heights [M] -> one :class:`Detections` per setting.
    """
    maps = np.asarray(heatmaps)
    if maps.ndim != 3:
        raise ValueError(f"heatmaps must be [M,h,w], got shape {maps.shape}")
    widths = np.broadcast_to(np.asarray(widths, dtype=np.float64), (len(maps),))
    heights = np.broadcast_to(np.asarray(heights, dtype=np.float64), (len(maps),))
    groups: dict[tuple, list[int]] = {}
    for i, st in enumerate(settings):
        key = (st.upsample, st.upsample_size if st.upsample == "before" else None, st.interpolation,
               st.normalization, st.connectivity)
        groups.setdefault(key, []).append(i)
    found: list[list[tuple]] = [[] for _ in settings]
    for members in groups.values():
        first = settings[members[0]]
        levels = sorted({np.float32(v) for i in members for v in _levels(settings[i])})
        level_of = {v: i + 1 for i, v in enumerate(levels)}
        for start in range(0, len(maps), chunk):
            values = _upsample(maps[start:start + chunk].astype(np.float32), first)
            q = _quantise(values, first.normalization, levels)
            comp = level_components(q, first.connectivity, values)
            grid = values.shape[1:]
            for i in members:
                idx, boxes, scores = _select(comp, settings[i], level_of)
                idx = idx + start
                scale = np.stack([widths[idx] / grid[1], heights[idx] / grid[0]] * 2, axis=1)
                found[i].append((idx, boxes * scale, scores))
            if progress is not None:
                progress(min(start + chunk, len(maps)))
    empty = Detections(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    return [Detections(*(np.concatenate([part[j] for part in parts]) for j in range(3))) if parts else empty
            for parts in found]


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
    return heatmaps_to_boxes_many(heatmaps, widths, heights, [settings], chunk, progress)[0]


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


__all__ = ["BoxSettings", "Detections", "GENERATORS", "grid_to_original", "heatmap_to_boxes", "heatmaps_to_boxes",
           "heatmaps_to_boxes_many"]
