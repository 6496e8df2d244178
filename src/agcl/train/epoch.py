"""One epoch of training and the validation losses — the inner loops behind :func:`agcl.train.loop.fit`.

A batch is a dict (``CxrDataset`` items collated: ``image`` ``[B,1,S,S]``, ``labels`` ``[B,14]``, …).
The model is called as ``model(batch["image"])`` (which method that runs is the loop's business, see
:class:`agcl.train.loop.MethodEntry`) and ``loss_fn(outputs, batch)`` returns a dict of named scalar
losses with the total under ``"loss"`` (:mod:`agcl.train.losses` returns it under ``"total"``, which
:func:`normalize_losses` renames in one place); every key is logged.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from agcl.data.device_batch import DeviceBatchStep
from agcl.errors import AgclError
from agcl.train.device import RuntimeEnv

LossFn = Callable[[Any, Mapping[str, Any]], Mapping[str, Tensor]]
#: Called after every optimizer step with (global_step, mean losses since the last call); rank-local.
StepCallback = Callable[[int, dict[str, float]], None]

INPUT_KEY = "image"


def to_device(batch: Mapping[str, Any], env: RuntimeEnv, device_step: DeviceBatchStep | None = None) -> dict[str, Any]:
    """Move every tensor of ``batch`` to ``env.device`` (``non_blocking``: asynchronous from pinned memory).

    ``device_step`` (the dataset's :meth:`~agcl.data.dataset.CxrDataset.device_step`, ``data.augment_device:
    gpu``) finishes the batch on the device: uint8 → float and the batched augmentation. The image goes
    to channels_last, when enabled, last.
    """
    if device_step is not None:
        batch = device_step.before_transfer(batch)
    out: dict[str, Any] = {k: v.to(env.device, non_blocking=True) if isinstance(v, Tensor) else v
                           for k, v in batch.items()}
    if device_step is not None:
        out = device_step.after_transfer(out)
    x = out.get(INPUT_KEY)
    if isinstance(x, Tensor):
        if x.dtype == torch.uint8:
            raise TypeError("a uint8 image batch reached the model: its dataset's device_step() was not applied")
        if env.channels_last and x.dim() == 4:
            out[INPUT_KEY] = x.contiguous(memory_format=torch.channels_last)
    return out


def batch_size_of(batch: Mapping[str, Any]) -> int:
    """Number of samples in a collated batch (first dimension of the input, else of any tensor)."""
    x = batch.get(INPUT_KEY)
    if not isinstance(x, Tensor):
        x = next(v for v in batch.values() if isinstance(v, Tensor))
    return int(x.shape[0])


def normalize_losses(losses: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The named losses with the optimised total under ``"loss"``.

    :mod:`agcl.train.losses` returns the total under ``"total"``; it is renamed to ``"loss"`` so every
    stage logs ``loss`` (plus its parts, e.g. ``cls`` and ``reg``).
    """
    out = dict(losses)
    if "loss" not in out:
        if "total" not in out:
            raise TypeError(f"loss_fn must return a dict with the total under 'loss' (or 'total'), got {sorted(out)}")
        out["loss"] = out.pop("total")
    return out


def train_one_epoch(
    model: nn.Module,
    loss_fn: LossFn,
    loader: Iterable[Mapping[str, Any]],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    env: RuntimeEnv,
    *,
    accum_steps: int = 1,
    on_step: StepCallback | None = None,
    on_batch: Callable[[], None] | None = None,
    where: str = "",
    device_step: DeviceBatchStep | None = None,
) -> tuple[dict[str, float], int, int]:
    """Train over ``loader`` once, with gradient accumulation and (under DDP) ``no_sync`` between steps.

    Each micro-batch loss is divided by the number of micro-batches in its accumulation group, so
    ``accum_steps`` micro-batches of size B/k give the gradient of one batch of size B.
    ``device_step``: see :func:`to_device`.

    Returns:
        (sums, samples, steps): per-key sums of ``loss × batch_size`` over this rank's samples (not yet
        all-reduced), the sample count and the number of optimizer steps taken.
    """
    model.train()
    n_batches = len(loader)  # type: ignore[arg-type]
    sums: dict[str, Tensor] = {}
    pending: dict[str, Tensor] = {}
    pending_n = 0
    samples = steps = 0
    optimizer.zero_grad(set_to_none=True)
    for i, raw in enumerate(loader):
        batch = to_device(raw, env, device_step)
        group = i // accum_steps
        group_size = min(accum_steps, n_batches - group * accum_steps)
        last = (i + 1) % accum_steps == 0 or i + 1 == n_batches
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with env.autocast():
                losses = normalize_losses(loss_fn(model(batch[INPUT_KEY]), batch))
            scaler.scale(losses["loss"].float() / group_size).backward()
        bs = batch_size_of(batch)
        samples += bs
        for k, v in losses.items():
            d = v.detach().float()
            sums[k] = sums.get(k, 0.0) + d * bs  # type: ignore[assignment, operator]
            pending[k] = pending.get(k, 0.0) + d  # type: ignore[assignment, operator]
        pending_n += 1
        if last:
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
            if on_step is not None:
                means = {k: float(v) / pending_n for k, v in pending.items()}
                if not math.isfinite(means["loss"]):
                    raise AgclError(f"{where}non-finite training loss at step {steps}; lower optim.lr or check the data")
                on_step(steps, means)
                pending, pending_n = {}, 0
        if on_batch is not None:
            on_batch()
    out = {k: float(v) for k, v in sums.items()}
    if "loss" in out and not math.isfinite(out["loss"]):
        raise AgclError(f"{where}non-finite training loss; lower optim.lr or check the data")
    return out, samples, steps


@torch.no_grad()
def evaluate_losses(
    model: nn.Module,
    loss_fn: LossFn,
    loader: Iterable[Mapping[str, Any]],
    env: RuntimeEnv,
    *,
    on_batch: Callable[[], None] | None = None,
    device_step: DeviceBatchStep | None = None,
) -> dict[str, float]:
    """Sample-weighted mean of every named loss over ``loader`` (all-reduced across DDP ranks).

    Each batch's loss is taken as a per-sample mean and weighted by the batch size. Returns ``{}`` for
    an empty loader.
    """
    model.eval()
    sums: dict[str, Tensor] = {}
    n = 0
    for raw in loader:
        batch = to_device(raw, env, device_step)
        with env.autocast():
            losses = normalize_losses(loss_fn(model(batch[INPUT_KEY]), batch))
        bs = batch_size_of(batch)
        n += bs
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v.detach().float() * bs  # type: ignore[assignment, operator]
        if on_batch is not None:
            on_batch()
    local = {"__n": float(n), **{k: float(v) for k, v in sums.items()}}
    if env.dist.enabled:  # a rank whose (unpadded) shard is empty has no keys: gather dicts, not tensors
        import torch.distributed as dist

        parts: list[dict[str, float]] = [{} for _ in range(env.dist.world_size)]
        dist.all_gather_object(parts, local)
        local = {}
        for part in parts:
            for k, v in part.items():
                local[k] = local.get(k, 0.0) + v
    if local["__n"] == 0:
        return {}
    return {k: local[k] / local["__n"] for k in sorted(local) if k != "__n"}
