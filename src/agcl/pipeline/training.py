"""Glue between the pipeline stages and the single training loop (:func:`agcl.train.loop.fit`).

No second loop lives here: these helpers build the stages' loss callables, apply per-stage overrides
of ``optim``, transfer weights between networks (BSL → binary / two-path) and run a fit that is
idempotent (a stage directory holding a finished ``checkpoint.pt`` is loaded, not retrained). Losses
return :mod:`agcl.train.losses` dicts (total under ``"total"``); the loop names it ``"loss"``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agcl.config import OptimConfig
from agcl.errors import InputError
from agcl.pipeline.context import RunContext
from agcl.pipeline.settings import StageTrainConfig
from agcl.train.checkpoint import load_checkpoint
from agcl.train.losses import LAMBDA_CELLS, masked_bce, softmax_ce, two_path_loss

log = logging.getLogger(__name__)

#: The method of :class:`agcl.models.TwoPathNet` that training calls (logits and regressed heatmaps).
TWO_PATH_METHOD = "forward_train"


def stage_optim(base: OptimConfig, override: StageTrainConfig | None = None, **fixed: Any) -> OptimConfig:
    """``optim`` with a stage's non-zero overrides (and any ``fixed`` fields) applied."""
    changes: dict[str, Any] = {}
    if override is not None:
        for name in ("max_epochs", "patience", "lr"):
            value = getattr(override, name)
            if value:
                changes[name] = value
    changes.update({k: v for k, v in fixed.items() if v})
    return dataclasses.replace(base, **changes)


def binary_loss(label_index: int) -> Callable[[torch.Tensor, Mapping[str, Any]], dict[str, torch.Tensor]]:
    """2-way softmax CE of the binary net of one disease (§2.2): target = the image's label of that disease."""

    def loss(outputs: torch.Tensor, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return softmax_ce(outputs, batch["labels"][:, label_index].round().long())

    return loss


def two_path_loss_fn(lam: float, lam_cells: int = LAMBDA_CELLS
                     ) -> Callable[[Mapping[str, torch.Tensor], Mapping[str, Any]], dict[str, torch.Tensor]]:
    """Eq. 4: classification BCE + λ·lam_cells/(h·w) · Σ_c 1_c Loss_reg; batches without seed targets give
    cls only (``reg`` and ``reg_weighted`` logged as 0)."""

    def loss(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        if "target" not in batch:
            d = masked_bce(outputs["logits"], batch["labels"])
            zero = torch.zeros_like(d["cls"])
            return {**d, "reg": zero, "reg_weighted": zero}
        return two_path_loss(outputs["logits"], outputs["heatmaps"], batch["labels"], None,
                             batch["target"], batch["target_mask"], lam, lam_cells)

    return loss


def transfer_weights(model: nn.Module, checkpoint: Path, *, include_fc: bool) -> int:
    """Copy the backbone (and, if ``include_fc``, the classification FC) of a checkpoint into ``model``.

    Keys must match by name and shape; a new head (the binary net's 2-way FC, the two-path regressor)
    keeps its fresh initialisation. Returns the number of tensors copied.
    """
    state = load_checkpoint(checkpoint)["model"]
    own = model.state_dict()
    prefixes = ("backbone.", "fc.") if include_fc else ("backbone.",)
    copied = {k: v for k, v in state.items()
              if k.startswith(prefixes) and k in own and own[k].shape == v.shape}
    missing = [k for k in own if k.startswith("backbone.") and k not in copied]
    if missing:
        raise InputError(f"incompatible checkpoint {checkpoint}: backbone tensors missing or of another shape: "
                         f"{missing[:3]} (a checkpoint of another backbone?)")
    model.load_state_dict(copied, strict=False)
    return len(copied)


def run_fit(ctx: RunContext, model: nn.Module, loss_fn, train_data, val_data, *, stage: str, stage_dir: Path,
            optim: OptimConfig, batch_size: int = 0, train_method: str = "forward", env=None,
            run_dir: Path | None = None) -> dict[str, Any]:
    """Train with :func:`agcl.train.loop.fit` unless already finished; return a small summary.

    ``env`` defaults to the run's runtime (``ctx.env``; a disease dealt to one rank passes a
    single-process one) and ``run_dir`` (where the training events go) to ``ctx.run_dir``.
    """
    from agcl.train.loop import FitOptions, fit_or_load
    from agcl.train.sampling import LoaderOptions

    cfg = ctx.cfg
    opts = FitOptions(stage=stage, optim=optim, runtime=cfg.runtime, batch_size=batch_size or cfg.data.batch_size,
                      eval_batch_size=cfg.data.eval_batch_size, loader=LoaderOptions.from_config(cfg.data),
                      stage_dir=stage_dir, run_dir=run_dir or ctx.run_dir, config=ctx.config_dict(),
                      model_spec=getattr(model, "spec", None), train_method=train_method)
    result = fit_or_load(model, loss_fn, train_data, val_data, opts, env=env or ctx.env)
    return {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss, "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early}
