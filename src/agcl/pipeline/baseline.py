"""Stage ``bsl``: the multi-label baseline (paper §2.1), trained by :func:`agcl.train.baseline.fit_baseline`.

All 14 sigmoid outputs fine-tuned with BCE by SGD with momentum, lr divided by 10 every 10 epochs,
early stopping on the validation loss, best checkpoint by validation loss (all from the shared loop),
with the stage's ``baseline`` overrides of ``optim``. Writes ``checkpoint.pt`` (best weights) and the
test outputs of :mod:`agcl.pipeline.inference`.
"""

from __future__ import annotations

from pathlib import Path

from agcl.pipeline.context import RunContext
from agcl.pipeline.inference import write_test_outputs
from agcl.pipeline.training import stage_optim
from agcl.train.baseline import fit_baseline


def run_baseline(ctx: RunContext, sdir: Path) -> dict:
    """Train (or resume) the baseline in ``sdir`` and write its test outputs; returns a summary."""
    cfg = ctx.cfg
    train = ctx.dataset(ctx.split("train"), train=True)
    val = ctx.dataset(ctx.split("val"))
    model, result = fit_baseline(cfg, train, val, stage_dir=sdir, run_dir=ctx.run_dir, env=ctx.env,
                                 image_size=cfg.data.image_size, optim=stage_optim(cfg.optim, cfg.baseline),
                                 config=ctx.config_dict())
    summary = {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
               "epochs_run": result.epochs_run, "stopped_early": result.stopped_early}
    summary.update(write_test_outputs(ctx, model, sdir))
    return summary
