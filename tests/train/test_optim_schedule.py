"""LR schedule and plateau early stopping as pure functions, tested over tables (paper §3)."""

from __future__ import annotations

import math

import pytest
import torch

from agcl.config import OptimConfig
from agcl.train.optim import PlateauState, build_optimizer, build_scheduler, lr_at, lr_factor, plateau_update


@pytest.mark.parametrize(
    ("epoch", "lr"),
    [(0, 1e-3), (9, 1e-3), (10, 1e-4), (19, 1e-4), (20, 1e-5), (35, 1e-6)],
)
def test_lr_is_divided_by_ten_every_ten_epochs(epoch: int, lr: float) -> None:
    assert lr_at(epoch, OptimConfig()) == pytest.approx(lr, rel=1e-12)


def test_scheduler_follows_the_pure_schedule() -> None:
    cfg = OptimConfig(lr=0.5, lr_step_epochs=3, lr_gamma=0.5)
    opt = build_optimizer(torch.nn.Linear(2, 1), cfg)
    sched = build_scheduler(opt, cfg)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([lr_at(e, cfg) for e in range(10)])
    assert opt.param_groups[0]["momentum"] == 0.9 and isinstance(opt, torch.optim.SGD)
    with pytest.raises(ValueError):
        lr_factor(-1)


# (validation losses, patience, min_delta) -> (epoch it stops after or None, best epoch)
TABLE = [
    ([1.0, 0.9, 0.8, 0.7], 2, 0.0, None, 3),
    ([1.0, 1.1, 1.2], 2, 0.0, 2, 0),
    ([1.0, 0.9, 0.95, 0.85, 0.9, 0.9, 0.9], 3, 0.0, 6, 3),
    ([1.0, 0.99, 0.98, 0.97], 2, 0.05, 2, 0),  # improvements below min_delta do not count
    ([1.0, float("nan"), 0.5], 2, 0.0, None, 2),  # NaN never improves but does not stop by itself
    ([float("nan"), float("nan")], 2, 0.0, 1, -1),
    ([3.0, 2.0, 2.0, 2.0], 1, 0.0, 2, 1),
]


@pytest.mark.parametrize(("losses", "patience", "min_delta", "stop_at", "best"), TABLE)
def test_plateau_early_stopping_table(losses, patience, min_delta, stop_at, best) -> None:
    state = PlateauState()
    stopped = None
    for epoch, loss in enumerate(losses):
        state = plateau_update(state, epoch, loss, patience=patience, min_delta=min_delta)
        if state.stop:
            stopped = epoch
            break
    assert stopped == stop_at
    assert state.best_epoch == best


def test_plateau_state_round_trips_and_is_not_mutated() -> None:
    s0 = PlateauState()
    s1 = plateau_update(s0, 0, 0.5, patience=2)
    assert s0 == PlateauState() and s1.improved and s1.best == 0.5
    s2 = plateau_update(s1, 1, 0.6, patience=2)
    assert not s2.improved and s2.bad_epochs == 1
    assert PlateauState.from_dict(s2.to_dict()) == s2
    assert math.isinf(PlateauState.from_dict(PlateauState().to_dict()).best)
