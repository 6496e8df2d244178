"""The last steps of a batch, on the training device: uint8 → [0, 1] float, then the seeded affine warp.

With ``data.augment_device: gpu`` (the default on CUDA, docs/scaling.md) the DataLoader workers only
copy cache rows: a :class:`agcl.data.dataset.CxrDataset` built with ``on_device=True`` yields uint8
images (4× less host memory, pinning and PCIe traffic than float32) and unwarped seed targets. The
training loop (:func:`agcl.train.epoch.to_device`) then calls :meth:`DeviceBatchStep.before_transfer`
on the host batch and :meth:`DeviceBatchStep.after_transfer` on the device batch, which does for the
whole batch at once what the per-item path does in each worker.

The warp parameters are :meth:`agcl.data.augment.AffineAugment.sample_rows` of the batch's cache rows:
a pure function of (``runtime.seed``, epoch, row), exactly the ``theta`` the per-item path draws — so
the two paths differ only by float rounding of the interpolation, the draws do not depend on the
worker count, the batch composition or the torchrun rank, and a resumed run draws what an
uninterrupted one would. They are drawn on the host (≈ 35 µs per image) so that the device never
waits on a device-to-host copy of the row numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agcl.data.augment import AffineAugment, identity_theta, warp_batch


@dataclass(frozen=True)
class DeviceBatchStep:
    """Convert and (for training) augment one collated batch after its transfer.

    Attributes:
        augment: the training augmentation, or None (validation: conversion only).
        epoch: the epoch whose draws are applied (the dataset's epoch when the step was made).
    """

    augment: AffineAugment | None = None
    epoch: int = 0

    def before_transfer(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Add ``affine`` (the ``theta`` of each item, identity without augmentation) on the host.

        Shapes: ``batch["index"]`` int ``[B]`` (cache rows) -> adds ``affine`` float32 ``[B, 2, 3]``.
        """
        rows = batch["index"]
        n = len(rows)
        if self.augment is not None:
            theta = self.augment.sample_rows(rows, self.epoch)
        else:
            theta = np.broadcast_to(identity_theta(), (n, 2, 3)).copy()
        return {**batch, "affine": torch.from_numpy(theta)}

    def after_transfer(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """uint8 image → float32 in [0, 1]; with augmentation, warp image and seed target by ``affine``.

        Shapes: ``image`` uint8 ``[B, 1, S, S]`` -> float32 ``[B, 1, S, S]`` in [0, 1]; ``target`` float32
        ``[B, 14, h, w]`` warped with the same ``theta`` (resolution-free normalised coordinates).
        """
        out = dict(batch)
        image = out["image"]
        if image.dtype == torch.uint8:
            image = image.to(torch.float32).div_(255.0)
        if self.augment is not None:
            image = warp_batch(image, out["affine"]).clamp_(0.0, 1.0)
            if "target" in out:
                out["target"] = warp_batch(out["target"], out["affine"])
        out["image"] = image
        return out


def device_step_of(dataset: object) -> DeviceBatchStep | None:
    """The batch step a dataset leaves to the device (``dataset.device_step()``), or None."""
    make = getattr(dataset, "device_step", None)
    return make() if callable(make) else None
