"""Stage ``bsl``: the multi-label baseline (paper §2.1), trained by :func:`agcl.train.baseline.fit_baseline`.

All 14 sigmoid outputs fine-tuned with BCE by SGD with momentum, lr divided by 10 every 10 epochs,
early stopping on the validation loss, best checkpoint by validation loss (all from the shared loop),
with the stage's ``baseline`` overrides of ``optim``. Writes ``checkpoint.pt`` (best weights) and the
test outputs of :mod:`agcl.pipeline.inference`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from agcl.config import TrainConfig
from agcl.pipeline.context import RunContext
from agcl.pipeline.inference import write_test_outputs
from agcl.pipeline.training import stage_optim
from agcl.train.baseline import STAGE, fit_baseline, open_data
from agcl.train.device import RuntimeEnv, setup_runtime
from agcl.train.distributed import barrier
from agcl.train.loop import FitResult, finished_checkpoint
from agcl.train.metrics_log import truncate_stage_events

log = logging.getLogger(__name__)


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


def train_baseline(cfg: TrainConfig, run_dir: str | os.PathLike[str], *, fresh: bool = False,
                   env: RuntimeEnv | None = None, config_path: str | os.PathLike[str] | None = None) -> FitResult | None:
    """``agcl train``: BSL into ``run_dir/stage_bsl``; resumes a killed run, skips a finished one (None).

    The run directory is locked (:mod:`agcl.runlock`, rank 0) until training ends; unless ``fresh``, it
    is continued only with the config it was started with; the index and the cache are opened (and
    checked) before ``config.yaml`` is written.

    Args:
        fresh: discard ``last.pt``/``checkpoint.pt`` of a previous run of this stage and start over.
        config_path: the YAML file the config came from (it may be the run's own ``config.yaml``).
    """
    from agcl.pipeline.preflight import check_inputs_outside, run_inputs
    from agcl.runlock import folder_lock

    run = Path(run_dir)
    stage_dir = run / f"stage_{STAGE}"
    env = env or setup_runtime(cfg.runtime)
    if hasattr(cfg, "source"):  # a pipeline config: its inputs may not live among the run's own files
        check_inputs_outside(run, run_inputs(cfg, Path(config_path) if config_path else None))
    with folder_lock(run, enabled=env.dist.is_main):
        from agcl.pipeline.driver import check_resume_config, write_run_config

        if not fresh:  # like `agcl run`: a run directory is continued only with the config it was started with
            check_resume_config(run, cfg)
            done = finished_checkpoint(stage_dir)
            if done is not None:
                log.info("stage %s already finished (%s); pass --fresh to retrain", STAGE, done)
                return None
        train_ds, val_ds, cache = open_data(cfg, env.device)  # index and cache checked before anything is changed
        if fresh and env.dist.is_main:
            from agcl.paths import remove_own

            remove_own(stage_dir, ("last.pt", "best.pt", "checkpoint.pt"))  # never through a symlink
            truncate_stage_events(run, STAGE, 0)
        barrier(env.dist)  # no rank may look for last.pt before rank 0 has removed it
        if env.dist.is_main:
            write_run_config(run / "config.yaml", cfg)
        return fit_baseline(cfg, train_ds, val_ds, stage_dir=stage_dir, run_dir=run, env=env,
                            image_size=cache.size)[1]
