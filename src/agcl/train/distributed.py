"""DDP plumbing for torchrun: process-group init from the environment, rank queries, all-reduce.

One code path for 1 and N processes: with ``WORLD_SIZE`` unset or 1 nothing is initialised and every
helper degrades to the single-process answer. Under ``torchrun`` the group is initialised from the
``env://`` variables with ``nccl`` on CUDA and ``gloo`` on CPU. Only rank 0 writes files and logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

#: How long a rank waits in a collective. Generous: under ``agcl run`` the other ranks wait at a barrier
#: while rank 0 alone runs a stage (preparing the cache, evaluation), which can take many minutes.
COLLECTIVE_TIMEOUT = timedelta(hours=3)


@dataclass(frozen=True)
class DistInfo:
    """Who this process is. ``world_size == 1`` means plain single-process training."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes files, logs and progress bars."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (set by torchrun); defaults to a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(
        rank=int(os.environ.get("RANK", "0")),
        world_size=world,
        local_rank=int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0"))),
    )


def init_distributed(device_type: str) -> DistInfo:
    """Initialise the default process group when launched by torchrun (idempotent).

    Args:
        device_type: ``"cuda"`` → nccl backend, anything else → gloo.
    """
    info = env_dist_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend, init_method="env://", timeout=COLLECTIVE_TIMEOUT)
    return info


def destroy_distributed() -> None:
    """Tear the process group down (safe to call when none exists)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Synchronise all ranks (no-op for one process)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()


def gather_objects(items: list, info: DistInfo) -> list:
    """Concatenate every rank's list of picklable ``items`` (rank order), on every rank; one process: ``items``."""
    if not info.enabled:
        return list(items)
    out: list[list] = [[] for _ in range(info.world_size)]
    dist.all_gather_object(out, list(items))
    return [x for part in out for x in part]


def all_reduce_sums(values: Mapping[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """Sum each named float over all ranks (in float64, one collective for all keys).

    Every rank must pass the same keys in the same order.
    """
    keys = list(values)
    if not info.enabled or not keys:
        return {k: float(values[k]) for k in keys}
    buf = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return {k: float(v) for k, v in zip(keys, buf.tolist(), strict=True)}

