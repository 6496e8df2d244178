"""``agcl run``: the whole AGCL pipeline (BSL → curriculum → seeds → AGL / AGCL-1…k → evaluation), resumable.

    agcl run --config configs/nih-cxr14.yaml --set data.index_dir=runs/nih-index --run-dir runs/nih
    agcl run --config configs/demo.yaml --set source.raw_dir=data/phantom --run-dir runs/demo2
    agcl run --config configs/demo.yaml --set data.index_dir=runs/demo-data/index --seeds 0,1,2 --run-dir runs/d3
    torchrun --standalone --nproc_per_node 4 -m agcl.cli run --config configs/nih-cxr14.yaml --run-dir runs/nih
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors

log = logging.getLogger(__name__)


@user_errors
def run(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Run directory (created; re-running resumes it).")],
    config: Annotated[Path | None, typer.Option("--config", help="Pipeline YAML (data/model/optim/runtime + source/curriculum/seeds/refine/eval); built-in defaults when omitted.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override one config value, e.g. --set refine.rounds=3 (repeatable).")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Stop once this stage (and what it needs) is done, e.g. --only bsl (repeatable).")] = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="Training seeds, e.g. --seeds 0,1,2: run the pipeline once per seed in RUN/seed_<k> (sharing data, cache and severity table), then compare them in RUN/compare.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard what a previous run wrote in --run-dir (config.yaml, "
                                        "stage_*/, seed_*/, eval/, compare/, logs) and start over (default: off).")] = False,
) -> None:
    """Run or resume the pipeline; finished stages are skipped, a killed stage resumes from its last epoch.

    With --seeds, once per training seed, then Table 1/2 as mean ± sd over seeds with paired bootstrap
    CIs vs BSL and BSL+ (as `agcl compare`). Every input is checked before anything is written; the run
    directory is locked while it runs. Also under ``torchrun`` (every stage; rank 0 alone writes).
    """
    from agcl.logs import setup_console_logging
    from agcl.pipeline.console import print_comparison, print_tables
    from agcl.pipeline.driver import load_pipeline_config, run_pipeline
    from agcl.pipeline.multiseed import parse_seeds, run_training_seeds
    from agcl.train.distributed import destroy_distributed, env_dist_info

    setup_console_logging()  # also under `torchrun -m agcl.cli` (main() is not the entry point there)
    main = env_dist_info().is_main
    if not main:
        logging.getLogger("agcl").setLevel(logging.WARNING)  # only rank 0 logs
    cfg = load_pipeline_config(config, overrides or [])
    compared = None
    try:
        if seeds is not None:
            compared = run_training_seeds(cfg, run_dir, parse_seeds([seeds]), only=only or None, fresh=fresh,
                                          config_path=config).compare
        else:
            run_pipeline(cfg, run_dir, only=only or None, fresh=fresh, config_path=config)
    finally:
        destroy_distributed()
    if not main:
        return
    if compared is not None:
        typer.echo(print_comparison(compared))
        typer.echo(f"\nResults: {compared / 'summary.md'} (tables: overview.csv, auc.csv, localization.csv, "
                   f"paired.csv; each seed's run: {run_dir}/seed_<k>)")
        return
    if seeds is not None:
        typer.echo(f"Not every seed has finished its evaluation yet (--only); the same command without --only "
                   f"finishes them and compares them in {run_dir}/compare.")
        return
    eval_dir = run_dir / "eval"
    if (eval_dir / "DONE").is_file():
        typer.echo(print_tables(eval_dir))
        typer.echo(f"\nResults: {eval_dir / 'summary.md'} (tables: auc.csv, localization.csv, paired.csv; "
                   "seeds: seeds.csv)")


def register(app: typer.Typer) -> None:
    """Add ``agcl run`` to the CLI."""
    app.command("run")(run)
