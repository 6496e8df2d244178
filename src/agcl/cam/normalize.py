"""Explicit heatmap normalisations (kept separate from CAM: raw CAMs are what stages store).

Comparability: :func:`minmax_normalize` maps every map to [0,1] on its own, so after it values are
comparable *within* a map (thresholds such as "≥ 20 % of the maximum") but no longer *across* images
or classes — a faint map and a strong one look alike. Use raw CAMs (or probabilities) whenever a
threshold must compare images, e.g. seed selection.
"""

from __future__ import annotations

import numpy as np
import torch


def minmax_normalize(maps: torch.Tensor | np.ndarray, eps: float = 0.0):
    """Min–max normalise each map over its last two axes to [0,1].

    A constant map (max == min) becomes all zeros (it carries no location information).

    Shapes: maps [..., h, w] (torch or numpy, float) -> same shape/type, float, in [0,1].
    """
    if isinstance(maps, np.ndarray):
        m = maps.astype(np.float32, copy=False)
        lo = m.min(axis=(-2, -1), keepdims=True)
        span = m.max(axis=(-2, -1), keepdims=True) - lo
        return np.where(span > eps, (m - lo) / np.where(span > eps, span, 1.0), 0.0).astype(np.float32)
    m = maps.float()
    lo = m.amin(dim=(-2, -1), keepdim=True)
    span = m.amax(dim=(-2, -1), keepdim=True) - lo
    return torch.where(span > eps, (m - lo) / span.clamp_min(1e-12), torch.zeros_like(m))
