"""The one training loop of agcl: every stage (BSL, binary curriculum nets, two-path) calls :func:`fit`.

``fit`` trains ``model`` in place on CPU or CUDA (AMP, channels_last), alone or under torchrun (DDP),
with gradient accumulation, per-epoch validation, the paper's step LR schedule and plateau early
stopping (§3), logging every named loss, and an atomic resumable checkpoint after every epoch. It reads
top to bottom in four phases: start (fresh or resumed), wrap (device, method entry, DDP), the epoch
loop, save.

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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from agcl.config.schema import OptimConfig, RuntimeConfig
from agcl.data.device_batch import device_step_of
from agcl.errors import AgclError
from agcl.train import checkpoint as ckpt
from agcl.train.device import RuntimeEnv, seed_everything, setup_runtime
from agcl.train.distributed import all_reduce_sums, barrier
from agcl.train.epoch import LossFn, evaluate_losses, train_one_epoch
from agcl.train.losses import contribution_ratio
from agcl.train.metrics_log import MetricsLogger, truncate_stage_events
from agcl.train.optim import PlateauState, build_optimizer, build_scheduler, plateau_update
from agcl.train.progress import EpochProgress
from agcl.train.sampling import DataSource, EpochLoaders, LoaderOptions, epoch_dataset

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FitOptions:
    """How one stage trains: everything :func:`fit` needs besides the model, the loss and the data.

    Attributes:
        stage: stage name in logs, ``metrics.jsonl`` and checkpoints.
        batch_size: micro-batch size per process (optimizer batch = batch_size × grad_accum × world size).
        eval_batch_size: validation batch size (0 = 2 × batch_size).
        loader: DataLoader workers, pinning, persistent workers, prefetch (``LoaderOptions.from_config(cfg.data)``).
        stage_dir: where checkpoints go (None → nothing is written, no resume).
        run_dir: where ``metrics.jsonl`` and ``tb/<stage>`` go (None → console only).
        config: resolved config (plain dict) stored in every checkpoint.
        model_spec: rebuild spec for :func:`agcl.models.build_model` (default ``model.spec``).
        train_method: the model method that training and validation call, e.g. ``"forward_train"`` for
            :class:`agcl.models.TwoPathNet` (its output dict); it becomes the ``forward`` of the module
            that DDP wraps, so gradients synchronise.
        optimizer_factory / scheduler_factory: default SGD+momentum / step LR from ``optim``.
        resume: continue from ``stage_dir/last.pt`` when it exists.
    """

    stage: str
    optim: OptimConfig
    runtime: RuntimeConfig
    batch_size: int
    eval_batch_size: int = 0
    loader: LoaderOptions = field(default_factory=LoaderOptions)
    stage_dir: PathLike | None = None
    run_dir: PathLike | None = None
    config: Mapping[str, Any] | None = None
    model_spec: Mapping[str, Any] | None = None
    train_method: str = "forward"
    collate_fn: Callable | None = None
    optimizer_factory: Callable[[nn.Module], torch.optim.Optimizer] | None = None
    scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None = None
    resume: bool = True
    tensorboard: bool = True


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


@dataclass
class _State:
    """The mutable training state that ``last.pt`` holds (besides the model weights)."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    start_epoch: int = 0
    global_step: int = 0
    plateau: PlateauState = field(default_factory=PlateauState)
    history: list[dict[str, float]] = field(default_factory=list)
    resumed: int | None = None


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


def fit(model: nn.Module, loss_fn: LossFn, train_data: DataSource, val_data: Dataset | None,
        opts: FitOptions, *, env: RuntimeEnv | None = None) -> FitResult:
    """Train ``model`` for one stage; see the module docstring for files and resume semantics.

    Args:
        loss_fn: ``(outputs, batch) -> {"loss": total, "<name>": part, ...}`` (scalar tensors;
            ``"total"`` is accepted for ``"loss"``).
        train_data: a Dataset, or ``epoch -> Dataset`` (must be a pure function of the epoch).
        val_data: validation Dataset; None → early stopping and "best" follow the training loss.
        env: an already resolved runtime (default: :func:`setup_runtime` of ``opts.runtime``).
    """
    env = env or setup_runtime(opts.runtime)
    sdir = Path(opts.stage_dir) if opts.stage_dir is not None else None

    # 1. start: optimizer, schedule and counters, fresh or from last.pt
    model.to(env.device, memory_format=torch.channels_last if env.channels_last else torch.preserve_format)
    state = _start(model, opts, env, sdir)

    # 2. wrap: the training entry (model or model.<train_method>), under torchrun in DDP
    entry = model if opts.train_method == "forward" else MethodEntry(model, opts.train_method)
    net = entry
    if env.dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(entry, device_ids=[env.device.index] if env.device.type == "cuda" else None)

    # 3. the epoch loop
    logger = MetricsLogger(opts.run_dir, opts.stage, enabled=env.dist.is_main, tensorboard=opts.tensorboard,
                           purge_step=state.global_step if state.resumed is not None else None)
    loaders = EpochLoaders(env, opts.runtime.seed, opts.loader, opts.collate_fn)
    try:
        for epoch in range(state.start_epoch, opts.optim.max_epochs):
            if state.plateau.stop:
                break
            _run_epoch(epoch, net, entry, loss_fn, train_data, val_data, opts, env, state, logger, loaders)
            _save_epoch(model, epoch, opts, env, state, sdir)  # 4a. save after every epoch
            if state.plateau.stop:
                log.info("stage %s: validation loss plateaued for %d epochs; stopping after epoch %d",
                         opts.stage, opts.optim.patience, epoch + 1)
    finally:
        loaders.close()
        logger.close()

    # 4b. save: the best weights as checkpoint.pt
    return _finish(model, opts, env, state, sdir)


def finished_checkpoint(stage_dir: PathLike | None) -> Path | None:
    """``stage_dir/checkpoint.pt`` when a fit finished there (no ``last.pt`` of a later attempt), else None."""
    if stage_dir is None:
        return None
    sdir = Path(stage_dir)
    done = sdir / "checkpoint.pt"
    return done if done.is_file() and not (sdir / "last.pt").is_file() else None


def fit_or_load(model: nn.Module, loss_fn: LossFn, train_data: DataSource, val_data: Dataset | None,
                opts: FitOptions, *, env: RuntimeEnv | None = None) -> FitResult:
    """:func:`fit`, unless the stage already finished: then its best weights are loaded into ``model``."""
    done = finished_checkpoint(opts.stage_dir)
    if done is None:
        return fit(model, loss_fn, train_data, val_data, opts, env=env)
    saved = ckpt.load_checkpoint(done)
    model.load_state_dict(saved["model"])
    log.info("stage %s: training already finished, loaded %s", opts.stage, done)
    meta = saved.get("metrics") or {}
    history = list(meta.get("history", []))
    return FitResult(best_epoch=int(meta.get("best_epoch", -1)), best_val_loss=float(meta.get("best_val_loss", "nan")),
                     epochs_run=len(history), stopped_early=len(history) < opts.optim.max_epochs, history=history,
                     checkpoint=done)


def _start(model: nn.Module, opts: FitOptions, env: RuntimeEnv, sdir: Path | None) -> _State:
    """Build optimizer, scheduler and scaler; restore them and every counter from ``last.pt`` if resuming."""
    optimizer = opts.optimizer_factory(model) if opts.optimizer_factory else build_optimizer(model, opts.optim)
    scheduler = opts.scheduler_factory(optimizer) if opts.scheduler_factory else build_scheduler(optimizer, opts.optim)
    state = _State(optimizer, scheduler, env.grad_scaler())
    info = env.dist
    last = sdir / "last.pt" if sdir is not None else None
    if not (opts.resume and last is not None and last.is_file()):
        seed_everything(opts.runtime.seed + info.rank)
        return state
    saved = ckpt.load_checkpoint(last, map_location=env.device)
    if opts.config and saved["config"] != dict(opts.config):
        log.warning("stage %s: the config differs from the one %s was trained with; resuming anyway "
                    "(pass --fresh / resume=False to start over)", opts.stage, last)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    state.scaler.load_state_dict(saved["scaler"])
    counters = saved["train_state"]
    state.start_epoch, state.global_step = int(saved["epoch"]) + 1, int(counters["global_step"])
    state.plateau, state.history = PlateauState.from_dict(counters["plateau"]), list(counters["history"])
    rng = saved["rng"]
    if isinstance(rng, list) != info.enabled or (isinstance(rng, list) and len(rng) != info.world_size):
        log.warning("stage %s: resuming with another number of processes: RNG streams are reseeded", opts.stage)
        seed_everything(opts.runtime.seed + info.rank + 1000 * state.start_epoch)
    else:
        ckpt.restore_rng_state(rng[info.rank] if isinstance(rng, list) else rng)
    state.resumed = state.start_epoch
    if info.is_main and opts.run_dir is not None:
        truncate_stage_events(opts.run_dir, opts.stage, state.start_epoch)
    log.info("stage %s: resuming after epoch %d from %s", opts.stage, state.start_epoch, last)  # 1-based
    return state


def _run_epoch(epoch: int, net: nn.Module, entry: nn.Module, loss_fn: LossFn, train_data: DataSource,
               val_data: Dataset | None, opts: FitOptions, env: RuntimeEnv, state: _State,
               logger: MetricsLogger, loaders: EpochLoaders) -> None:
    """Train one epoch, validate, step the schedule and early stopping, log; appends to ``state.history``."""
    where = f"stage {opts.stage}: "
    t0 = time.perf_counter()
    train_ds = epoch_dataset(train_data, epoch)
    if len(train_ds) == 0:  # type: ignore[arg-type]
        raise AgclError(f"{where}no training images in epoch {epoch + 1}")
    train_loader = loaders.get(train_ds, opts.batch_size, epoch=epoch, train=True)
    val_loader = None if val_data is None else loaders.get(
        val_data, opts.eval_batch_size or 2 * opts.batch_size, epoch=epoch, train=False)
    lr = state.optimizer.param_groups[0]["lr"]
    total = len(train_loader) + (len(val_loader) if val_loader else 0)
    with EpochProgress(f"{opts.stage} epoch {epoch + 1}/{opts.optim.max_epochs}", total,
                       enabled=env.dist.is_main and opts.runtime.progress) as bar:

        def on_step(_step_in_epoch: int, means: dict[str, float]) -> None:
            state.global_step += 1
            if state.global_step % opts.runtime.log_every == 0:
                logger.log("step", epoch=epoch, step=state.global_step,
                           values={"lr": state.optimizer.param_groups[0]["lr"], **means, **contribution_ratio(means)})
                bar.set_loss(means["loss"])

        sums, n, _ = train_one_epoch(net, loss_fn, train_loader, state.optimizer, state.scaler, env,
                                     accum_steps=opts.runtime.grad_accum_steps, on_step=on_step,
                                     on_batch=bar.advance, where=where, device_step=device_step_of(train_ds))
        tot = all_reduce_sums({"__n": float(n), **{k: sums[k] for k in sorted(sums)}}, env.dist, env.device)
        train_means = {k: tot[k] / max(tot["__n"], 1.0) for k in sorted(sums)}
        train_means.update(contribution_ratio(train_means))
        # the undistributed entry: DDP's forward would broadcast buffers, and ranks' val shards differ in length
        val_means = ({} if val_loader is None else
                     evaluate_losses(entry, loss_fn, val_loader, env, on_batch=bar.advance,
                                     device_step=device_step_of(val_data)))
    state.scheduler.step()
    monitor = val_means.get("loss", train_means["loss"])
    state.plateau = plateau_update(state.plateau, epoch, monitor, patience=opts.optim.patience,
                                   min_delta=opts.optim.min_delta)
    row = {"epoch": float(epoch), "lr": float(lr), **{f"train/{k}": v for k, v in train_means.items()},
           **{f"val/{k}": v for k, v in val_means.items()}}
    state.history.append(row)
    logger.log("epoch", epoch=epoch, step=state.global_step,
               values={k: v for k, v in row.items() if k != "epoch"}, console=True)
    seconds = time.perf_counter() - t0
    logger.log("timing", epoch=epoch, step=state.global_step,
               values={"seconds": seconds, "img_per_s": tot["__n"] / max(seconds, 1e-9)})


def _save_epoch(model: nn.Module, epoch: int, opts: FitOptions, env: RuntimeEnv, state: _State,
                sdir: Path | None) -> None:
    """``best.pt`` when the epoch improved and ``last.pt`` always (rank 0); every rank meets at a barrier."""
    rng = ckpt.gather_rng_state(env.dist) if sdir is not None else None  # collective: every rank calls it
    if env.dist.is_main and sdir is not None:
        common = dict(stage=opts.stage, epoch=epoch, config=dict(opts.config or {}), model_spec=opts.model_spec)
        if state.plateau.improved:
            ckpt.save_checkpoint(sdir / "best.pt", ckpt.model_payload(
                model, **common, metrics={"val_loss": state.plateau.best}))
        ckpt.save_checkpoint(sdir / "last.pt", ckpt.model_payload(
            model, **common, optimizer=state.optimizer.state_dict(), scheduler=state.scheduler.state_dict(),
            scaler=state.scaler.state_dict(), rng=rng,
            train_state={"global_step": state.global_step, "plateau": state.plateau.to_dict(),
                         "history": state.history}))
    barrier(env.dist)


def _finish(model: nn.Module, opts: FitOptions, env: RuntimeEnv, state: _State, sdir: Path | None) -> FitResult:
    """Load the best weights, write ``checkpoint.pt`` and drop the intermediate files (rank 0)."""
    final = None
    best = sdir / "best.pt" if sdir is not None else None
    if best is not None and best.is_file():
        model.load_state_dict(ckpt.load_checkpoint(best, map_location=env.device)["model"])
    barrier(env.dist)
    plateau = state.plateau
    if env.dist.is_main and sdir is not None:
        final = sdir / "checkpoint.pt"
        ckpt.save_checkpoint(final, ckpt.model_payload(
            model, stage=opts.stage, epoch=plateau.best_epoch, config=dict(opts.config or {}),
            model_spec=opts.model_spec,
            metrics={"best_epoch": plateau.best_epoch, "best_val_loss": plateau.best, "history": state.history}))
        for name in ("last.pt", "best.pt"):
            (sdir / name).unlink(missing_ok=True)
    barrier(env.dist)
    return FitResult(best_epoch=plateau.best_epoch, best_val_loss=plateau.best, epochs_run=len(state.history),
                     stopped_early=plateau.stop, history=state.history, checkpoint=final,
                     resumed_from_epoch=state.resumed)
