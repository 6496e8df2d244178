"""Control "models" for any dataset, scored exactly like a model's heatmaps and predictions.

- ``uniform``: i.i.d. uniform random heatmaps and probabilities (seeded) — the floor a model must beat.
- ``centre``: the same Gaussian bump at the image centre for every image and class (a centre prior;
  σ = ``sigma`` × side in the cache frame), with a constant probability 0.5 for every class (AUC 0.5
  by ties). It shows how much a localization score owes to lesions simply sitting mid-image.
"""

from __future__ import annotations

import numpy as np

CONTROLS = ("uniform", "centre")


def uniform_heatmaps(n: int, k: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Shapes: -> [n,k,h,w] float32 in [0,1), from ``default_rng(seed)``."""
    return np.random.default_rng(seed).random((n, k, *size), dtype=np.float32)


def centre_heatmaps(n: int, k: int, size: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """Gaussian at the centre of an h×w grid over the whole image (cell centres at (i+0.5)/h).

    Shapes: -> [n,k,h,w] float32 in (0,1] (read-only broadcast view; copy before writing).
    """
    h, w = size
    y = (np.arange(h) + 0.5) / h - 0.5
    x = (np.arange(w) + 0.5) / w - 0.5
    g = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2)).astype(np.float32)
    return np.broadcast_to(g, (n, k, h, w))


def control_outputs(kind: str, n: int, k: int, size: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and heatmaps of a control.

    Shapes: -> (probs [n,k] float64 in [0,1], heatmaps [n,k,h,w] float32).
    """
    if kind == "uniform":
        rng = np.random.default_rng([seed, 1])
        return rng.random((n, k)), uniform_heatmaps(n, k, size, seed)
    if kind == "centre":
        return np.full((n, k), 0.5), centre_heatmaps(n, k, size)
    raise ValueError(f"control {kind!r} is not one of {list(CONTROLS)}")
