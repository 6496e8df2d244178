"""``agcl train``: train the multi-label baseline (BSL, paper §2.1) alone; torchrun-compatible for DDP.

    agcl train --config configs/demo.yaml --set data.index_dir=runs/idx --run-dir runs/bsl
    torchrun --nproc_per_node 4 -m agcl.cli train --config configs/nih-cxr14.yaml --run-dir runs/nih-bsl
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors

log = logging.getLogger(__name__)


@user_errors
def train(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Run directory: config.yaml, stage_bsl/, metrics.jsonl, tb/.")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML config (sections data/model/optim/runtime); default: none, i.e. built-in defaults.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override one config value, e.g. --set optim.lr=0.01 (repeatable; default: none).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard a previous (killed or finished) run of this stage and start over (default: off).")] = False,
) -> None:
    """Train the multi-label baseline from an index + image cache; a killed run resumes when re-run."""
    from agcl.config import load_config
    from agcl.logs import setup_console_logging
    from agcl.pipeline.baseline import train_baseline
    from agcl.pipeline.settings import PipelineConfig
    from agcl.train.device import setup_runtime
    from agcl.train.distributed import destroy_distributed

    setup_console_logging()  # also under `torchrun -m agcl.cli` (main() is not the entry point there)
    # the pipeline's config root, so `agcl train` accepts (and checks) the same YAML files as `agcl run`;
    # only the data/model/optim/runtime sections are used here
    cfg = load_config(config, overrides or [], schema=PipelineConfig)
    env = setup_runtime(cfg.runtime, cfg.model.backbone)
    if not env.dist.is_main:
        logging.getLogger("agcl").setLevel(logging.WARNING)  # only rank 0 logs
    try:
        result = train_baseline(cfg, run_dir, fresh=fresh, env=env, config_path=config)
    finally:
        destroy_distributed()
    if result is not None and env.dist.is_main:
        log.info("best epoch %d (validation loss %.4f) of %d; checkpoint %s", result.best_epoch + 1,
                 result.best_val_loss, result.epochs_run, result.checkpoint)


def register(app: typer.Typer) -> None:
    """Add ``agcl train`` to the CLI."""
    app.command("train")(train)
