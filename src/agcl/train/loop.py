"""The one training loop of agcl: every stage (BSL, binary curriculum nets, two-path) calls :func:`fit`.

``fit`` trains ``model`` in place on CPU or CUDA (AMP, channels_last), alone or under torchrun (DDP),
with gradient accumulation, per-epoch validation, the paper's step LR schedule and plateau early
stopping (§3), logging every named loss, and an atomic resumable checkpoint after every epoch.

Files in ``stage_dir`` (rank 0 only):

* ``last.pt`` — full resume state after each epoch (model, optimizer, scheduler, scaler, RNG states,
  early-stopping counters, history); a killed run restarted with the same arguments continues from it
  and ends with the same weights and metrics as an uninterrupted run.
* ``best.pt`` — a real copy of the model at the best validation loss so far.
* ``checkpoint.pt`` — written when the stage finishes: the best weights + ``metrics`` (history, best
  epoch); ``last.pt``/``best.pt`` are then removed. ``fit`` returns with the best weights loaded.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from agcl.config.schema import OptimConfig, RuntimeConfig
from agcl.errors import AgclError
from agcl.train import checkpoint as ckpt
from agcl.train.device import RuntimeEnv, setup_runtime
from agcl.train.distributed import all_reduce_sums, barrier
from agcl.train.epoch import ForwardFn, LossFn, default_forward, evaluate_losses, train_one_epoch
from agcl.train.metrics_log import MetricsLogger, truncate_stage_events
from agcl.train.optim import PlateauState, build_optimizer, build_scheduler, plateau_update
from agcl.train.progress import EpochProgress
from agcl.train.sampling import ShardedSampler, loader_generator

log = logging.getLogger(__name__)

#: ``train_data`` may be a Dataset or a pure function ``epoch -> Dataset`` (curricula, §2.2).
DataSource = Dataset | Callable[[int], Dataset]


@dataclass
class FitResult:
    """What :func:`fit` did. ``history`` has one dict per epoch: ``epoch``, ``lr``, ``train/<k>``, ``val/<k>``."""

    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None
    resumed_from_epoch: int | None = None


class MethodEntry(nn.Module):
    """Makes ``module.<method>`` the ``forward`` of a wrapper, so DDP's gradient hooks see it.

    E.g. ``TwoPathNet.forward_train`` (logits + heatmaps): calling ``ddp.module.forward_train`` directly
    would bypass DistributedDataParallel's forward and leave gradients unsynchronised.
    """

    def __init__(self, inner: nn.Module, method: str) -> None:
        super().__init__()
        self.inner, self.method = inner, method

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.inner, self.method)(*args, **kwargs)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's legacy global RNG and ``random`` (the runtime's job, at the start of a fit)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _dataset_for(source: DataSource, epoch: int) -> Dataset:
    ds = source(epoch) if callable(source) and not hasattr(source, "__getitem__") else source
    if hasattr(ds, "set_epoch"):
        ds.set_epoch(epoch)  # CxrDataset: augmentation draws are a function of (seed, epoch, row)
    return ds  # type: ignore[return-value]


def _loader(ds: Dataset, *, batch_size: int, env: RuntimeEnv, seed: int, epoch: int, train: bool,
            num_workers: int, collate_fn: Callable | None) -> DataLoader:
    n = len(ds)  # type: ignore[arg-type]
    info = env.dist
    sampler = ShardedSampler(n, seed=seed, rank=info.rank, world_size=info.world_size, shuffle=train, pad=train)
    sampler.set_epoch(epoch)
    per_rank = len(sampler)
    return DataLoader(
        ds, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=collate_fn,
        drop_last=train and per_rank > batch_size,  # no tiny last batch (BatchNorm); same count on every rank
        pin_memory=env.device.type == "cuda", generator=loader_generator(seed, epoch, info.rank),
        persistent_workers=False,
    )


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: DataSource,
    val_data: Dataset | None,
    *,
    stage: str,
    optim: OptimConfig,
    runtime: RuntimeConfig,
    batch_size: int,
    eval_batch_size: int = 0,
    num_workers: int = 0,
    stage_dir: str | os.PathLike[str] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    model_spec: Mapping[str, Any] | None = None,
    forward: ForwardFn = default_forward,
    train_method: str = "forward",
    collate_fn: Callable | None = None,
    optimizer_factory: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None = None,
    env: RuntimeEnv | None = None,
    resume: bool = True,
    tensorboard: bool = True,
) -> FitResult:
    """Train ``model`` for one stage; see the module docstring for files and resume semantics.

    Args:
        loss_fn: ``(outputs, batch) -> {"loss": total, "<name>": part, ...}`` (scalar tensors).
        train_data: a Dataset, or ``epoch -> Dataset`` (must be a pure function of the epoch).
        val_data: validation Dataset; None → early stopping and "best" follow the training loss.
        batch_size: micro-batch size per process (optimizer batch = batch_size × grad_accum × world size).
        stage_dir: where checkpoints go (None → nothing is written, no resume).
        run_dir: where ``metrics.jsonl`` and ``tb/<stage>`` go (None → console only).
        config: resolved config (plain dict) stored in every checkpoint.
        model_spec: rebuild spec for :func:`agcl.models.build_model` (default ``model.spec``).
        forward: ``(model, batch) -> outputs`` (default ``model(batch["image"])``); ``model`` is the
            entry module (DDP-wrapped under torchrun), so call it, not its submodules.
        train_method: the model method that ``model(...)`` runs, e.g. ``"forward_train"`` for
            :class:`agcl.models.TwoPathNet` (used for training and validation).
        optimizer_factory / scheduler_factory: default SGD+momentum / step LR from ``optim``.
        env: an already resolved runtime (default: :func:`setup_runtime` of ``runtime``).
        resume: continue from ``stage_dir/last.pt`` when it exists.
    """
    env = env or setup_runtime(runtime)
    info = env.dist
    main = info.is_main
    where = f"stage {stage}: "
    sdir = Path(stage_dir) if stage_dir is not None else None
    last_path = sdir / "last.pt" if sdir else None
    best_path = sdir / "best.pt" if sdir else None
    cfg_dict = dict(config or {})

    model.to(env.device, memory_format=torch.channels_last if env.channels_last else torch.preserve_format)
    bare = model
    optimizer = optimizer_factory(bare) if optimizer_factory else build_optimizer(bare, optim)
    scheduler = scheduler_factory(optimizer) if scheduler_factory else build_scheduler(optimizer, optim)
    scaler = env.grad_scaler()

    start_epoch, global_step, history = 0, 0, []
    plateau = PlateauState()
    resumed = None
    if resume and last_path is not None and last_path.is_file():
        state = ckpt.load_checkpoint(last_path, map_location=env.device)
        if cfg_dict and state["config"] != cfg_dict:
            log.warning("%sthe config differs from the one %s was trained with; resuming anyway "
                        "(pass --fresh / resume=False to start over)", where, last_path)
        bare.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        ts = state["train_state"]
        start_epoch, global_step = int(state["epoch"]) + 1, int(ts["global_step"])
        plateau, history = PlateauState.from_dict(ts["plateau"]), list(ts["history"])
        rng = state["rng"]
        if isinstance(rng, list) != info.enabled or (isinstance(rng, list) and len(rng) != info.world_size):
            log.warning("%sresuming with another number of processes: RNG streams are reseeded", where)
            seed_everything(runtime.seed + info.rank + 1000 * start_epoch)
        else:
            ckpt.restore_rng_state(rng[info.rank] if isinstance(rng, list) else rng)
        resumed = start_epoch
        if main and run_dir is not None:
            truncate_stage_events(run_dir, stage, start_epoch)
        log.info("%sresuming after epoch %d from %s", where, start_epoch, last_path)  # 1-based
    else:
        seed_everything(runtime.seed + info.rank)

    entry: nn.Module = bare if train_method == "forward" else MethodEntry(bare, train_method)
    model = entry
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(entry, device_ids=[env.device.index] if env.device.type == "cuda" else None)
    logger = MetricsLogger(run_dir, stage, enabled=main, tensorboard=tensorboard,
                           purge_step=global_step if resumed is not None else None)
    eval_bs = eval_batch_size or 2 * batch_size

    def on_step(step_in_epoch: int, means: dict[str, float]) -> None:
        nonlocal global_step
        global_step += 1
        if global_step % runtime.log_every == 0:
            logger.log("step", epoch=epoch, step=global_step,
                       values={"lr": optimizer.param_groups[0]["lr"], **means})
            bar.set_loss(means["loss"])

    epoch = start_epoch
    try:
        for epoch in range(start_epoch, optim.max_epochs):
            if plateau.stop:
                break
            t0 = time.perf_counter()
            train_ds = _dataset_for(train_data, epoch)
            if len(train_ds) == 0:  # type: ignore[arg-type]
                raise AgclError(f"{where}no training images in epoch {epoch + 1}")
            train_loader = _loader(train_ds, batch_size=batch_size, env=env,
                                   seed=runtime.seed, epoch=epoch, train=True, num_workers=num_workers,
                                   collate_fn=collate_fn)
            val_loader = None if val_data is None else _loader(
                val_data, batch_size=eval_bs, env=env, seed=runtime.seed, epoch=epoch, train=False,
                num_workers=num_workers, collate_fn=collate_fn)
            lr = optimizer.param_groups[0]["lr"]
            with EpochProgress(f"{stage} epoch {epoch + 1}/{optim.max_epochs}",
                               len(train_loader) + (len(val_loader) if val_loader else 0),
                               enabled=main and runtime.progress) as bar:
                sums, n, _ = train_one_epoch(model, loss_fn, train_loader, optimizer, scaler, env,
                                             accum_steps=runtime.grad_accum_steps, forward=forward,
                                             on_step=on_step, on_batch=bar.advance, where=where)
                tot = all_reduce_sums({"__n": float(n), **{k: sums[k] for k in sorted(sums)}}, info, env.device)
                train_means = {k: tot[k] / max(tot["__n"], 1.0) for k in sorted(sums)}
                # the bare module: DDP's forward would broadcast buffers, and ranks' val shards differ in length
                val_means = ({} if val_loader is None else
                             evaluate_losses(entry, loss_fn, val_loader, env, forward=forward, on_batch=bar.advance))
            scheduler.step()
            monitor = val_means.get("loss", train_means["loss"])
            plateau = plateau_update(plateau, epoch, monitor, patience=optim.patience, min_delta=optim.min_delta)
            row = {"epoch": float(epoch), "lr": float(lr), **{f"train/{k}": v for k, v in train_means.items()},
                   **{f"val/{k}": v for k, v in val_means.items()}}
            history.append(row)
            logger.log("epoch", epoch=epoch, step=global_step,
                       values={k: v for k, v in row.items() if k != "epoch"}, console=True)
            seconds = time.perf_counter() - t0
            logger.log("timing", epoch=epoch, step=global_step,
                       values={"seconds": seconds, "img_per_s": tot["__n"] / max(seconds, 1e-9)})
            rng = _gather_rng(info, env) if sdir is not None else None  # collective: every rank calls it
            if main and sdir is not None:
                if plateau.improved:
                    ckpt.save_checkpoint(best_path, ckpt.model_payload(
                        bare, stage=stage, epoch=epoch, config=cfg_dict, model_spec=model_spec,
                        metrics={"val_loss": monitor}))
                ckpt.save_checkpoint(last_path, ckpt.model_payload(
                    bare, stage=stage, epoch=epoch, config=cfg_dict, model_spec=model_spec,
                    optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                    scaler=scaler.state_dict(), rng=rng,
                    train_state={"global_step": global_step, "plateau": plateau.to_dict(), "history": history}))
            barrier(info)
            if plateau.stop:
                log.info("%svalidation loss plateaued for %d epochs; stopping after epoch %d",
                         where, optim.patience, epoch + 1)
    finally:
        logger.close()

    return _finish(bare, stage, sdir, best_path, last_path, plateau, history, cfg_dict, model_spec, env, resumed)


def _gather_rng(info: Any, env: RuntimeEnv) -> Any:
    """Every rank's RNG state (rank 0 gets the list; single process: one dict)."""
    state = ckpt.capture_rng_state()
    if not info.enabled:
        return state
    import torch.distributed as dist

    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, state)
    return out


def _finish(bare: nn.Module, stage: str, sdir: Path | None, best_path: Path | None, last_path: Path | None,
            plateau: PlateauState, history: list[dict[str, float]], cfg_dict: dict[str, Any],
            model_spec: Mapping[str, Any] | None, env: RuntimeEnv, resumed: int | None) -> FitResult:
    """Load the best weights, write ``checkpoint.pt`` and drop the intermediate files (rank 0)."""
    final = None
    if best_path is not None and best_path.is_file():
        bare.load_state_dict(ckpt.load_checkpoint(best_path, map_location=env.device)["model"])
    barrier(env.dist)
    if env.dist.is_main and sdir is not None:
        final = sdir / "checkpoint.pt"
        ckpt.save_checkpoint(final, ckpt.model_payload(
            bare, stage=stage, epoch=plateau.best_epoch, config=cfg_dict, model_spec=model_spec,
            metrics={"best_epoch": plateau.best_epoch, "best_val_loss": plateau.best, "history": history}))
        for p in (last_path, best_path):
            if p is not None:
                p.unlink(missing_ok=True)
    barrier(env.dist)
    epochs_run = len(history)
    return FitResult(best_epoch=plateau.best_epoch, best_val_loss=plateau.best, epochs_run=epochs_run,
                     stopped_early=plateau.stop, history=history, checkpoint=final, resumed_from_epoch=resumed)
