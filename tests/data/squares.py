"""A tiny index + cache for dataset and augmentation tests: 8 images of S×S pixels, image k with a bright
8×8 square at a position depending on k, and label k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from agcl.data.cache import ImageCache, prepare_cache
from agcl.data.index import IMAGE_COLUMNS, save_index
from agcl.labels import LABELS

S = 32


def build(tmp: Path) -> tuple[ImageCache, pd.DataFrame]:
    """Write the images, index and cache under ``tmp``; returns ``(cache, images.csv rows)``."""
    from PIL import Image

    (tmp / "img").mkdir()
    rows = []
    for k in range(8):
        arr = np.zeros((S, S), np.uint8)
        arr[4 + k: 12 + k, 8:16] = 255
        Image.fromarray(arr).save(tmp / "img" / f"i{k}.png")
        labels = {name: int(j == k % 14) for j, name in enumerate(LABELS)}
        rows.append({"image_id": f"i{k}.png", "path": f"img/i{k}.png", "patient_id": str(k), "follow_up": 0,
                     "age": 50, "sex": "M", "view": "PA", "meta_w": np.nan, "meta_h": np.nan, **labels,
                     "no_finding": 0, "split": "train"})
    images = pd.DataFrame(rows, columns=list(IMAGE_COLUMNS))
    empty = pd.DataFrame(columns=["image_id", "label", "x0", "y0", "x1", "y1"])
    ix = save_index(tmp / "ix", images, empty, {"root": str(tmp), "source": "csv"})
    return ImageCache.open(prepare_cache(ix, size=S, workers=1, progress=False)), images
