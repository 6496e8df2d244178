"""Heatmaps of a stage recomputed from its checkpoint, for ``agcl evaluate --heatmap
gradcam|gradcampp|regression``: the stage's ``checkpoint.pt`` is run on the cached test images that
carry boxes (the images a stage's ``heatmaps.npy`` covers), giving maps in the same contract (raw,
image frame, feature resolution) through the same code as ``agcl predict``
(:func:`agcl.train.checkpoint.predict_batch`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agcl.errors import InputError
from agcl.evaluation.inputs import TestSet

BATCH = 8


def checkpoint_heatmaps(stage_dir: Path, test: TestSet, source: str, device: str = "auto") -> tuple[list[str], np.ndarray]:
    """Maps of every class for the test box images, from the stage's checkpoint and the image cache.

    Args:
        source: ``gradcam`` | ``gradcampp`` (:mod:`agcl.cam.gradcam`) or ``regression`` (the two-path
            network's regressed Ĥ; a checkpoint without a regression path is refused).

    Raises:
        InputError: no checkpoint in the stage, an unreadable one, a cache of another size, or
            ``regression`` for a network without a regression path.

    Shapes: -> (ids [N], maps [N,14,h,w] float32, image frame).
    """
    from agcl.data.cache import ImageCache
    from agcl.train.checkpoint import check_heatmap_source, load_model, predict_batch

    checkpoint = stage_dir / "checkpoint.pt"
    if not checkpoint.is_file():
        raise InputError(f"--heatmap {source} needs the stage's checkpoint: {checkpoint} not found")
    loaded = load_model(checkpoint, device)
    check_heatmap_source(loaded, source)
    cache = ImageCache.open(test.source, expect_size=loaded.image_size)
    ids = sorted(test.gt["image_id"].unique())
    maps = []
    for start in range(0, len(ids), BATCH):
        pixels = np.stack([cache.get(cache.row_of(i)) for i in ids[start:start + BATCH]])
        maps.append(predict_batch(loaded, pixels, source)[1])
    return ids, np.concatenate(maps)
