"""Torch Dataset over the image cache: grey images in [0, 1], labels, optional seed-heatmap targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from agcl.data.augment import AffineAugment, identity_theta, warp
from agcl.data.cache import ImageCache
from agcl.data.device_batch import DeviceBatchStep
from agcl.errors import InputError
from agcl.labels import LABELS, NUM_LABELS


@dataclass
class SeedTargets:
    """Heatmap targets of seed images for the two-path network (AGCL §2.3, Eq. 2–4).

    Images without an entry get an all-zero heatmap and mask (no heatmap loss).

    Shapes: ``heatmaps`` float32 ``[M, 14, h, w]``; ``masks`` float32 ``[M, 14]`` (1 = class c of this image
    is a seed); ``image_ids`` length M.
    """

    image_ids: list[str]
    heatmaps: np.ndarray
    masks: np.ndarray

    def __post_init__(self) -> None:
        m = len(self.image_ids)
        if self.heatmaps.ndim != 4 or self.heatmaps.shape[:2] != (m, NUM_LABELS) or self.masks.shape != (m, NUM_LABELS):
            raise InputError(f"seed targets need heatmaps [M,14,h,w] and masks [M,14] for M={m} ids; "
                             f"got {self.heatmaps.shape} and {self.masks.shape}")
        self._rows = {iid: i for i, iid in enumerate(self.image_ids)}

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.heatmaps.shape[2]), int(self.heatmaps.shape[3])

    def lookup(self, image_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Heatmap ``[14, h, w]`` and mask ``[14]`` of one image (zeros when it is not a seed)."""
        i = self._rows.get(image_id)
        if i is None:
            return np.zeros((NUM_LABELS, *self.shape), np.float32), np.zeros(NUM_LABELS, np.float32)
        return self.heatmaps[i], self.masks[i]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> SeedTargets:
        """Build from ``{image_id: (heatmap [14,h,w], mask [14])}``."""
        ids = list(mapping)
        if not ids:
            raise InputError("seed targets are empty")
        return cls(ids, np.stack([np.asarray(mapping[i][0], np.float32) for i in ids]),
                   np.stack([np.asarray(mapping[i][1], np.float32) for i in ids]))


class CxrDataset(Dataset):
    """Items for training/evaluation from an :class:`ImageCache`.

    Each item is a dict: ``image`` float32 ``[1,S,S]`` in [0,1] (grey, not normalised), ``labels`` float32
    ``[14]``, ``index`` int (row in images.csv = cache row), ``affine`` float32 ``[2,3]`` (the ``theta`` applied,
    identity without augmentation; see :mod:`agcl.data.augment`), and with ``targets`` also ``target``
    float32 ``[14,h,w]`` and ``target_mask`` float32 ``[14]`` warped with the same ``theta``.

    Augmentation draws depend only on (augment.seed, epoch, row): call :meth:`set_epoch` before each epoch
    (with non-persistent DataLoader workers, which copy the dataset at every epoch start).

    With ``on_device=True`` (``data.augment_device: gpu``) the items leave the rest to the training
    device: ``image`` is the cache's uint8 ``[1,S,S]``, there is no ``affine``, and ``target`` is not
    warped; :meth:`device_step` gives the :class:`agcl.data.device_batch.DeviceBatchStep` that converts
    and warps the collated batch after transfer, with the same draws. Such items do not depend on the
    epoch, so the DataLoader may keep its workers between epochs.
    """

    def __init__(self, images_df: pd.DataFrame, cache: ImageCache, augment: AffineAugment | None = None,
                 targets: SeedTargets | Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 on_device: bool = False) -> None:
        self.cache = cache
        self.on_device = bool(on_device)
        self.image_ids: list[str] = images_df["image_id"].astype(str).tolist()
        self.rows = np.array([cache.row_of(i) for i in self.image_ids], dtype=np.int64)
        self.labels = images_df.loc[:, list(LABELS)].to_numpy(dtype=np.float32)
        self.augment = augment
        if targets is not None and not isinstance(targets, SeedTargets):
            targets = SeedTargets.from_mapping(targets)
        self.targets = targets
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of this epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def epoch_dependent(self) -> bool:
        """Whether items change with :meth:`set_epoch` (augmentation applied in the workers)."""
        return self.augment is not None and not self.on_device

    def device_step(self) -> DeviceBatchStep | None:
        """What the training device must still do to a batch of this dataset (None: nothing)."""
        return DeviceBatchStep(self.augment, self.epoch) if self.on_device else None

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        row = int(self.rows[i])
        warp_here = self.epoch_dependent
        theta = self.augment.sample(row, self.epoch) if warp_here else identity_theta()
        if self.on_device:  # uint8, copied out of the memmap; DeviceBatchStep converts and warps
            image = torch.from_numpy(np.array(self.cache.get(row)))[None]
        else:
            image = torch.from_numpy(np.array(self.cache.get(row), dtype=np.float32)).div_(255.0)[None]
            if warp_here:
                image = warp(image, theta).clamp_(0.0, 1.0)
        item: dict[str, torch.Tensor | int] = {
            "image": image,
            "labels": torch.from_numpy(self.labels[i].copy()),
            "index": row,
        }
        if not self.on_device:
            item["affine"] = torch.from_numpy(theta)
        if self.targets is not None:
            heat, mask = self.targets.lookup(self.image_ids[i])
            target = torch.from_numpy(np.array(heat, dtype=np.float32))
            item["target"] = warp(target, theta) if warp_here else target
            item["target_mask"] = torch.from_numpy(np.array(mask, dtype=np.float32))
        return item
