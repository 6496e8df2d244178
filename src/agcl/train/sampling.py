"""Deterministic, DDP-aware index samplers: the data order is a pure function of (seed, epoch, rank).

Interleaved sharding: rank ``r`` of ``W`` takes ``perm[r::W]`` of one global permutation. With
per-rank batch ``B``, the union over ranks of each rank's k-th batch is exactly the k-th batch of
size ``W·B`` that a single process would draw from ``perm`` — so DDP with W processes follows the same
trajectory as one process with the global batch (up to BatchNorm statistics and float summation order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

if TYPE_CHECKING:
    from agcl.train.device import RuntimeEnv

#: Training data of a fit: a Dataset or a pure function ``epoch -> Dataset`` (curricula, paper §2.2).
DataSource = Dataset | Callable[[int], Dataset]


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The global shuffled order of ``n`` items for ``epoch`` (independent of how many epochs ran before).

    Shapes: returns int64 ``[n]``, a permutation of ``range(n)``.
    """
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n).astype(np.int64)


def shard_indices(
    n: int, *, seed: int, epoch: int, rank: int = 0, world_size: int = 1, shuffle: bool = True, pad: bool = True
) -> np.ndarray:
    """Indices this rank visits in ``epoch``.

    Args:
        n: dataset length.
        shuffle: use :func:`epoch_permutation`; otherwise ``0..n-1``.
        pad: repeat the head of the order so every rank gets the same count (training, like
            ``DistributedSampler``); ``False`` gives a disjoint, unpadded cover (evaluation).

    Shapes: returns int64 ``[ceil(n / world_size)]`` when padded.
    """
    order = epoch_permutation(n, seed, epoch) if shuffle else np.arange(n, dtype=np.int64)
    if pad and world_size > 1 and n % world_size:
        extra = world_size - n % world_size
        order = np.concatenate([order, np.resize(order, extra)])
    return order[rank::world_size]


class ShardedSampler(Sampler[int]):
    """A ``Sampler`` over :func:`shard_indices`; call :meth:`set_epoch` before each epoch."""

    def __init__(
        self, n: int, *, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True, pad: bool = True
    ) -> None:
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.shuffle, self.pad = shuffle, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        return shard_indices(
            self.n, seed=self.seed, epoch=self.epoch, rank=self.rank, world_size=self.world_size,
            shuffle=self.shuffle, pad=self.pad,
        )

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return len(self.indices())


def loader_generator(seed: int, epoch: int, rank: int) -> torch.Generator:
    """A generator that fixes DataLoader worker seeds (and thus augmentation) per (seed, epoch, rank)."""
    g = torch.Generator()
    g.manual_seed(int(np.random.default_rng([int(seed), int(epoch), int(rank), 7]).integers(2**62)))
    return g


def epoch_dataset(source: DataSource, epoch: int) -> Dataset:
    """The dataset of ``epoch``, told its epoch (``CxrDataset`` draws augmentation from (seed, epoch, row))."""
    ds = source(epoch) if callable(source) and not hasattr(source, "__getitem__") else source
    if hasattr(ds, "set_epoch"):
        ds.set_epoch(epoch)
    return ds  # type: ignore[return-value]


def epoch_loader(ds: Dataset, batch_size: int, *, env: RuntimeEnv, seed: int, epoch: int, train: bool,
                 num_workers: int = 0, collate_fn: Callable | None = None) -> DataLoader:
    """This rank's DataLoader for one epoch: shuffled and padded shards for training, plain shards else."""
    info = env.dist
    sampler = ShardedSampler(len(ds), seed=seed, rank=info.rank, world_size=info.world_size,  # type: ignore[arg-type]
                             shuffle=train, pad=train)
    sampler.set_epoch(epoch)
    per_rank = len(sampler)
    return DataLoader(
        ds, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=collate_fn,
        drop_last=train and per_rank > batch_size,  # no tiny last batch (BatchNorm); same count on every rank
        pin_memory=env.device.type == "cuda", generator=loader_generator(seed, epoch, info.rank),
        persistent_workers=False,
    )
