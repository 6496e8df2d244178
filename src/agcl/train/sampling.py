"""Deterministic, DDP-aware index samplers: the data order is a pure function of (seed, epoch, rank).

Interleaved sharding: rank ``r`` of ``W`` takes ``perm[r::W]`` of one global permutation. With
per-rank batch ``B``, the union over ranks of each rank's k-th batch is exactly the k-th batch of
size ``W·B`` that a single process would draw from ``perm`` — so DDP with W processes follows the same
trajectory as one process with the global batch (up to BatchNorm statistics and float summation order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from agcl.errors import ConfigError

if TYPE_CHECKING:
    from agcl.config.schema import DataConfig
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


@dataclass(frozen=True)
class LoaderOptions:
    """How a fit's DataLoaders are built: ``data.num_workers``, ``pin_memory``, ``persistent_workers``,
    ``prefetch_factor`` (docs/training.md, "Config"). Batches always go to the device with
    ``non_blocking=True``; with pinned memory the copy overlaps the previous step's compute."""

    num_workers: int = 0
    pin_memory: str = "auto"
    persistent_workers: str = "auto"
    prefetch_factor: int = 2

    @classmethod
    def from_config(cls, data: DataConfig) -> LoaderOptions:
        return cls(data.num_workers, data.pin_memory, data.persistent_workers, data.prefetch_factor)

    def pin(self, device: torch.device) -> bool:
        """``auto`` → pin for CUDA; ``on`` without CUDA is a ConfigError."""
        if self.pin_memory == "on" and device.type != "cuda":
            raise ConfigError("data.pin_memory=on needs CUDA; use data.pin_memory=auto or off")
        return self.pin_memory != "off" and device.type == "cuda"

    def persistent(self, device: torch.device) -> bool:
        """Keep workers between epochs: ``auto`` → on for CUDA; never without workers."""
        wanted = self.persistent_workers == "on" or (self.persistent_workers == "auto" and device.type == "cuda")
        return wanted and self.num_workers > 0


def epoch_dependent(ds: Dataset) -> bool:
    """Whether a dataset's items change with ``set_epoch`` (assumed when it has ``set_epoch`` and does
    not say otherwise, like :attr:`agcl.data.dataset.CxrDataset.epoch_dependent`)."""
    return bool(getattr(ds, "epoch_dependent", hasattr(ds, "set_epoch")))


def epoch_loader(ds: Dataset, batch_size: int, *, env: RuntimeEnv, seed: int, epoch: int, train: bool,
                 options: LoaderOptions = LoaderOptions(), persistent: bool = False,
                 collate_fn: Callable | None = None) -> DataLoader:
    """This rank's DataLoader for one epoch: shuffled and padded shards for training, plain shards else.

    ``persistent`` keeps the workers alive for reuse by :class:`EpochLoaders` (the caller's promise that
    the items do not depend on the epoch).
    """
    info = env.dist
    sampler = ShardedSampler(len(ds), seed=seed, rank=info.rank, world_size=info.world_size,  # type: ignore[arg-type]
                             shuffle=train, pad=train)
    sampler.set_epoch(epoch)
    per_rank = len(sampler)
    workers = options.num_workers
    return DataLoader(
        ds, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate_fn,
        drop_last=train and per_rank > batch_size,  # no tiny last batch (BatchNorm); same count on every rank
        pin_memory=options.pin(env.device), generator=loader_generator(seed, epoch, info.rank),
        persistent_workers=persistent and workers > 0, prefetch_factor=options.prefetch_factor if workers else None,
    )


class EpochLoaders:
    """The DataLoaders of one fit: a fresh one per epoch, or — with persistent workers — the previous
    epoch's loader, kept when it reads the same dataset object and that dataset's items do not depend on
    the epoch (:func:`epoch_dependent`); only its sampler is moved to the new epoch.

    A kept loader's workers keep the seeds they started with; agcl's datasets draw no random numbers in
    the workers (augmentation is a function of (seed, epoch, row)), so this changes no result.
    """

    def __init__(self, env: RuntimeEnv, seed: int, options: LoaderOptions, collate_fn: Callable | None = None) -> None:
        self.env, self.seed, self.options, self.collate_fn = env, seed, options, collate_fn
        self._kept: dict[bool, tuple[Dataset, int, DataLoader]] = {}

    def get(self, ds: Dataset, batch_size: int, *, epoch: int, train: bool) -> DataLoader:
        kept = self._kept.get(train)
        if kept is not None and kept[0] is ds and kept[1] == batch_size:
            kept[2].sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            return kept[2]
        self._kept.pop(train, None)  # drop (and so stop) the workers of another dataset
        keep = self.options.persistent(self.env.device) and not epoch_dependent(ds)
        loader = epoch_loader(ds, batch_size, env=self.env, seed=self.seed, epoch=epoch, train=train,
                              options=self.options, persistent=keep, collate_fn=self.collate_fn)
        if keep:
            self._kept[train] = (ds, batch_size, loader)
        return loader

    def close(self) -> None:
        """Release kept loaders (their worker processes stop when the loaders are freed)."""
        self._kept.clear()
