"""Optimizer, LR schedule and early stopping (paper §3), as pure functions of explicit counters.

"We optimize the network using SGD with momentum and stop training after the validation loss reaches
a plateau. The learning rate is set to be 0.001 and divided by 10 every 10 epochs." (§3)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import torch
from torch import nn

from agcl.config.schema import OptimConfig


def lr_factor(epoch: int, step_epochs: int = 10, gamma: float = 0.1) -> float:
    """Multiplier of the base LR during 0-based ``epoch``: ``gamma ** (epoch // step_epochs)``."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    return gamma ** (epoch // step_epochs)


def lr_at(epoch: int, cfg: OptimConfig) -> float:
    """The learning rate used throughout 0-based ``epoch`` (0.001 for epochs 0–9, 1e-4 for 10–19, …)."""
    return cfg.lr * lr_factor(epoch, cfg.lr_step_epochs, cfg.lr_gamma)


def build_optimizer(params: nn.Module | Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.SGD:
    """SGD with momentum over the trainable parameters (all of them get ``cfg.weight_decay``)."""
    if isinstance(params, nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch step schedule from :func:`lr_factor`; the loop calls ``scheduler.step()`` once per epoch."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda=lambda epoch: lr_factor(epoch, cfg.lr_step_epochs, cfg.lr_gamma)
    )


@dataclass(frozen=True)
class PlateauState:
    """Early-stopping counters (saved in every checkpoint so a resumed run stops at the same epoch).

    Attributes:
        best: lowest validation loss so far (``inf`` before the first epoch).
        best_epoch: 0-based epoch that reached ``best`` (-1 before the first epoch).
        bad_epochs: consecutive epochs since the last improvement.
        stop: True once ``bad_epochs >= patience``.
        improved: whether the latest update was an improvement (→ save the "best" copy).
    """

    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stop: bool = False
    improved: bool = False

    def to_dict(self) -> dict[str, float | int | bool]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "stop": self.stop, "improved": self.improved}

    @classmethod
    def from_dict(cls, d: dict[str, float | int | bool]) -> PlateauState:
        return cls(best=float(d["best"]), best_epoch=int(d["best_epoch"]), bad_epochs=int(d["bad_epochs"]),
                   stop=bool(d["stop"]), improved=bool(d["improved"]))


def plateau_update(
    state: PlateauState, epoch: int, val_loss: float, *, patience: int, min_delta: float = 0.0
) -> PlateauState:
    """Fold one epoch's validation loss into the early-stopping state (pure).

    An improvement is ``val_loss < best - min_delta``; a NaN loss never improves. Training stops after
    ``patience`` consecutive epochs without improvement.
    """
    if not math.isnan(val_loss) and val_loss < state.best - min_delta:
        return PlateauState(best=float(val_loss), best_epoch=epoch, bad_epochs=0, stop=False, improved=True)
    bad = state.bad_epochs + 1
    return replace(state, bad_epochs=bad, stop=bad >= patience, improved=False)
