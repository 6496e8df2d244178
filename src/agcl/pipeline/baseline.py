"""Stage ``bsl``: the multi-label baseline (paper §2.1).

All 14 sigmoid outputs fine-tuned with BCE by SGD with momentum, lr divided by 10 every 10 epochs,
early stopping on the validation loss, best checkpoint by validation loss (all from the shared loop).
Writes ``checkpoint.pt`` (best weights) and the test outputs of :mod:`agcl.pipeline.inference`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agcl.models import build_model
from agcl.pipeline.context import RunContext
from agcl.pipeline.inference import write_test_outputs
from agcl.pipeline.training import bce_loss, run_fit, stage_optim

log = logging.getLogger(__name__)


def run_baseline(ctx: RunContext, sdir: Path) -> dict:
    """Train (or resume) the baseline in ``sdir`` and write its test outputs; returns a summary."""
    cfg = ctx.cfg
    model = build_model(ctx.model_spec("multilabel"), pretrained=cfg.model.pretrained, seed=cfg.runtime.seed)
    train = ctx.dataset(ctx.split("train"), train=True)
    val = ctx.dataset(ctx.split("val"))
    summary = run_fit(ctx, model, bce_loss, train, val, stage="bsl", stage_dir=sdir,
                      optim=stage_optim(cfg.optim, cfg.baseline))
    summary.update(write_test_outputs(ctx, model, sdir))
    return summary
