"""Grad-CAM / Grad-CAM++ heatmaps of a stage for ``agcl evaluate --heatmap gradcam|gradcampp``: the
stage's ``checkpoint.pt`` is run on the cached test images that carry boxes (the images a stage's
``heatmaps.npy`` covers), giving maps in the same contract (raw, image frame, feature resolution)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agcl.errors import InputError
from agcl.evaluation.inputs import TestSet

BATCH = 8


def gradient_heatmaps(stage_dir: Path, test: TestSet, method: str, device: str = "auto") -> tuple[list[str], np.ndarray]:
    """Maps of every class for the test box images, from the stage's checkpoint and the image cache.

    Raises:
        InputError: no checkpoint in the stage, an unreadable one, or a cache of another size.

    Shapes: -> (ids [N], maps [N,14,h,w] float32, image frame).
    """
    import torch

    from agcl.cam.gradcam import gradient_cams
    from agcl.data.cache import ImageCache
    from agcl.train.checkpoint import load_model

    checkpoint = stage_dir / "checkpoint.pt"
    if not checkpoint.is_file():
        raise InputError(f"--heatmap {method} needs the stage's checkpoint: {checkpoint} not found")
    loaded = load_model(checkpoint, device)
    cache = ImageCache.open(test.source, expect_size=loaded.image_size)
    ids = sorted(test.gt["image_id"].unique())
    maps = []
    for start in range(0, len(ids), BATCH):
        rows = [cache.row_of(i) for i in ids[start:start + BATCH]]
        pixels = torch.from_numpy(np.stack([cache.get(r) for r in rows])).to(loaded.device)
        _, m = gradient_cams(loaded.model, pixels.float().div_(255.0)[:, None], method)
        maps.append(m.numpy())
    return ids, np.concatenate(maps)
