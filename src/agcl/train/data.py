"""The datasets every training stage feeds to :func:`agcl.train.loop.fit`: one builder, one rule.

A stage's images are rows of ``images.csv`` read from the image cache; ``data.augment: light`` adds
the seeded affine augmentation (:mod:`agcl.data.augment`) to training datasets only, never to
validation or scoring; the two-path stages add seed-map ``targets`` (paper Eq. 4).
``data.augment_device`` decides where the uint8 → float conversion and the warp run: per item in the
loader workers (``cpu``) or per batch on the training device after transfer (``gpu``,
:mod:`agcl.data.device_batch`); ``auto`` is ``gpu`` on CUDA and ``cpu`` on CPU, so CPU runs keep the
per-item path.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from agcl.config import TrainConfig
from agcl.data.cache import ImageCache
from agcl.data.dataset import CxrDataset


def augment_on_device(setting: str, device: torch.device) -> bool:
    """``data.augment_device``: ``gpu`` → True, ``cpu`` → False, ``auto`` → True exactly on CUDA."""
    return setting == "gpu" or (setting == "auto" and device.type == "cuda")


def stage_dataset(rows: pd.DataFrame, cache: ImageCache, cfg: TrainConfig, *, train: bool = False,
                  targets: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                  device: torch.device | None = None) -> CxrDataset:
    """A :class:`CxrDataset` over ``rows``; augmentation (``data.augment``) only when ``train``.

    ``targets`` = seed heatmaps ``{image_id: (H [14,h,w], 1_c [14])}`` for the two-path network.
    ``device``: the training device (default: ``runtime.device`` resolved), for ``data.augment_device: auto``.
    """
    from agcl.data.augment import AffineAugment
    from agcl.train.device import resolve_device

    device = device if device is not None else resolve_device(cfg.runtime.device)
    augment = AffineAugment(seed=cfg.runtime.seed) if train and cfg.data.augment == "light" else None
    return CxrDataset(rows, cache, augment=augment, targets=targets or None,
                      on_device=augment_on_device(cfg.data.augment_device, device))
