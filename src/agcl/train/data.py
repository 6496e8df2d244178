"""The datasets every training stage feeds to :func:`agcl.train.loop.fit`: one builder, one rule.

A stage's images are rows of ``images.csv`` read from the image cache; ``data.augment: light`` adds
the seeded affine augmentation (:mod:`agcl.data.augment`) to training datasets only, never to
validation or scoring; the two-path stages add seed-map ``targets`` (paper Eq. 4).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from agcl.config import TrainConfig
from agcl.data.cache import ImageCache
from agcl.data.dataset import CxrDataset


def stage_dataset(rows: pd.DataFrame, cache: ImageCache, cfg: TrainConfig, *, train: bool = False,
                  targets: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> CxrDataset:
    """A :class:`CxrDataset` over ``rows``; augmentation (``data.augment``) only when ``train``.

    ``targets`` = seed heatmaps ``{image_id: (H [14,h,w], 1_c [14])}`` for the two-path network.
    """
    from agcl.data.augment import AffineAugment

    augment = AffineAugment(seed=cfg.runtime.seed) if train and cfg.data.augment == "light" else None
    return CxrDataset(rows, cache, augment=augment, targets=targets or None)
