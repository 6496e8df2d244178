"""Seed quality diagnostics: how well does each seed attention map localise the lesion?

Diagnostics only — training and seed selection never read truth boxes. Truth comes from an optional
CSV (``source.truth_boxes``: ``image_id,label,x0,y0,x1,y1`` in original pixels, e.g. a phantom's
``truth/lesions.csv``) or from the index's ``boxes.csv``; seeds without a truth box of their class are
counted but not scored, and with no truth at all the diagnostics are simply empty.

Per seed: one ``cam20`` box of the seed map (largest component ≥ 20 % of the max, original pixels);
its IoBB against the best truth box of the same image and class. Seed maps are stored on the feature
grid (Eq. 2 targets); they are moved into the image frame (:func:`agcl.cam.align.align_to_image`)
before the box is drawn, like every other map that is compared with boxes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agcl.boxes import BoxSettings, heatmaps_to_boxes, iobb
from agcl.cam.align import align_to_image

DIAG_COLUMNS = ("label", "seeds", "with_truth", "mean_iobb", "hit_rate")


def seed_box_iobb(seeds: pd.DataFrame, maps: np.ndarray, truth: pd.DataFrame, widths: np.ndarray,
                  heights: np.ndarray, upsample_size: int, geometry: tuple[int, float] | None) -> np.ndarray:
    """IoBB of each seed's cam20 box against the best truth box of its (image, class); NaN without truth.

    Args:
        seeds: seeds.csv rows. maps: raw seed CAMs. truth: ``image_id,label,x0,y0,x1,y1``.
        widths, heights: original pixel size of each seed's image.
        upsample_size: grid the maps are upsampled to before thresholding (the cache size S).
        geometry: ``(stride, cell_centre)`` of the feature grid the maps are on
            (:func:`agcl.models.backbones.feature_geometry`); None when they are already in the image frame.

    Shapes: maps [M,h,w]; widths/heights [M] -> [M] float64 in [0,1] or NaN.
    """
    out = np.full(len(seeds), np.nan)
    if not len(seeds) or truth is None or truth.empty:
        return out
    groups = {k: g[["x0", "y0", "x1", "y1"]].to_numpy(np.float64)
              for k, g in truth.groupby([truth["image_id"].astype(str), truth["label"]])}
    keys = list(zip(seeds["image_id"].astype(str), seeds["label"], strict=True))
    has = np.array([k in groups for k in keys])
    if not has.any():
        return out
    sel = np.flatnonzero(has)
    chosen = np.asarray(maps, np.float32)[sel]
    if geometry is not None:
        chosen = align_to_image(chosen, upsample_size, *geometry)
    det = heatmaps_to_boxes(chosen, np.asarray(widths)[sel], np.asarray(heights)[sel],
                            BoxSettings(generator="cam20", upsample_size=upsample_size))
    for m, box in zip(det.map_index, det.boxes, strict=True):
        i = sel[m]
        out[i] = float(iobb(box[None], groups[keys[i]]).max())
    out[sel[~np.isin(np.arange(len(sel)), det.map_index)]] = 0.0  # a flat map gives no box: a miss
    return out


def summarise(seeds: pd.DataFrame, scores: np.ndarray, labels: list[str], threshold: float = 0.25) -> pd.DataFrame:
    """Per label: seed count, seeds with truth, mean IoBB and the fraction with IoBB > ``threshold``."""
    df = seeds.assign(iobb=scores)
    rows = []
    for lab in labels:
        g = df[df["label"] == lab]
        scored = g["iobb"].dropna()
        rows.append({"label": lab, "seeds": len(g), "with_truth": len(scored),
                     "mean_iobb": float(scored.mean()) if len(scored) else float("nan"),
                     "hit_rate": float((scored > threshold).mean()) if len(scored) else float("nan")})
    return pd.DataFrame(rows, columns=list(DIAG_COLUMNS))
