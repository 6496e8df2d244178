"""Geometric augmentation with known geometry: a small random affine, deterministic per (seed, epoch, row).

The transform is a 2x3 matrix ``theta`` in the normalised coordinates of ``torch.nn.functional.affine_grid``
(``align_corners=False``: -1 and +1 are the outer pixel *edges*), mapping each output location to the input
location it samples. Because it is resolution-free, the same ``theta`` warps an S×S image and an h×w seed
heatmap consistently (two-path training, AGCL Eq. 2–4, needs heatmap targets aligned with the image).
No horizontal flip by default: laterality matters in chest radiographs (heart on the left).

The warp runs either per item in the DataLoader workers (:func:`warp`) or on a whole batch after its
transfer to the training device (:func:`warp_batch`, ``data.augment_device: gpu``,
:mod:`agcl.data.device_batch`); both draw the same ``theta`` for a given (seed, epoch, row) and apply
the same ``affine_grid``/``grid_sample``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def identity_theta() -> np.ndarray:
    """The identity transform. Shapes: ``[2, 3]`` float32."""
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)


@dataclass(frozen=True)
class AffineAugment:
    """Random rotation, isotropic scale and translation (and optional horizontal flip).

    Attributes:
        max_rotate_deg: rotation drawn from U(-r, r) degrees.
        max_scale: zoom factor drawn from U(1 - s, 1 + s).
        max_translate: shift drawn from U(-f, f) times the image side, per axis.
        hflip: flip left-right with probability 0.5 (off by default: laterality matters).
        seed: base seed; parameters depend only on (seed, epoch, row), not on worker count or order.
    """

    max_rotate_deg: float = 7.0
    max_scale: float = 0.10
    max_translate: float = 0.05
    hflip: bool = False
    seed: int = 0

    def sample(self, row: int, epoch: int) -> np.ndarray:
        """Draw ``theta`` (output -> input sampling matrix) for one image. Shapes: ``[2, 3]`` float32."""
        rng = np.random.default_rng([int(self.seed), int(epoch), int(row)])
        angle = math.radians(rng.uniform(-self.max_rotate_deg, self.max_rotate_deg))
        scale = rng.uniform(1.0 - self.max_scale, 1.0 + self.max_scale)
        shift = rng.uniform(-self.max_translate, self.max_translate, size=2) * 2.0  # side = 2 normalised units
        flip = -1.0 if (self.hflip and rng.random() < 0.5) else 1.0
        c, s = math.cos(angle), math.sin(angle)
        # forward map (input -> output): p_out = scale * R @ diag(flip, 1) @ p_in + shift
        forward = scale * np.array([[c, -s], [s, c]]) @ np.diag([flip, 1.0])
        inv = np.linalg.inv(forward)
        return np.concatenate([inv, (-inv @ shift)[:, None]], axis=1).astype(np.float32)

    def sample_rows(self, rows: Sequence[int] | np.ndarray | torch.Tensor, epoch: int) -> np.ndarray:
        """:meth:`sample` for each row of a batch: the same draws, whatever the batch or the process.

        Shapes: ``rows`` ``[B]`` int -> ``[B, 2, 3]`` float32.
        """
        rows = rows.tolist() if isinstance(rows, torch.Tensor | np.ndarray) else list(rows)
        if not rows:
            return np.zeros((0, 2, 3), np.float32)
        return np.stack([self.sample(int(r), epoch) for r in rows])


def warp_batch(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Apply one ``theta`` per batch item (one ``affine_grid`` + ``grid_sample`` call); outside is zero.

    Shapes: ``x`` float ``[B, C, H, W]`` -> ``[B, C, H, W]``; ``theta`` ``[B, 2, 3]`` (any device; moved
    to ``x``'s device and dtype).
    """
    th = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(th, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def warp(x: torch.Tensor, theta: np.ndarray | torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Apply ``theta`` to one image or heatmap stack; outside the input is zero.

    Shapes: ``x`` float ``[C, H, W]`` -> ``[C, H, W]``; ``theta`` ``[2, 3]``.
    """
    return warp_batch(x[None], torch.as_tensor(theta, dtype=x.dtype).reshape(1, 2, 3), mode)[0]


def map_points(theta: np.ndarray, xy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Where input pixel positions land in the output of :func:`warp` (same frame size).

    Pixel positions are continuous coordinates with 0 and ``width`` at the outer edges (the box frame).

    Shapes: ``xy`` ``[N, 2]`` (x, y) -> ``[N, 2]``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    u = np.c_[2.0 * xy[:, 0] / width - 1.0, 2.0 * xy[:, 1] / height - 1.0]
    out = (u - theta[:, 2]) @ np.linalg.inv(theta[:, :2]).T
    return np.c_[(out[:, 0] + 1.0) * width / 2.0, (out[:, 1] + 1.0) * height / 2.0]
