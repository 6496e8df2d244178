"""``agcl demo``: synthesize the phantom, mine its reports, index, cache, and run the whole pipeline.

    agcl demo                         # runs/demo, phantom under runs/demo-data
    agcl demo --quick                 # smaller phantom, 1 round, fewer epochs (a few minutes)
    agcl demo --run-dir /tmp/d --data-dir /tmp/phantom --set refine.lam=0.05
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors

log = logging.getLogger(__name__)


@user_errors
def demo(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Run directory of the demo.")] = Path("runs/demo"),
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where the phantom, severity table, index and cache go (default: <run-dir>-data, or <run-dir>-data-quick with --quick).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller phantom (400 images), 1 AGCL round, 2 baseline epochs, 1 refine epoch.")] = False,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a value of the packaged demo config, e.g. --set refine.rounds=3 (repeatable).")] = None,
) -> None:
    """Run AGCL end to end on a synthetic phantom and print Table 1 and Table 2 (BSL vs AGL vs AGCL-k)."""
    from agcl.logs import setup_console_logging
    from agcl.pipeline.compare import print_tables
    from agcl.pipeline.demo import run_demo

    setup_console_logging()
    suffix = "-data-quick" if quick else "-data"  # the quick phantom is another dataset: keep it apart
    data = data_dir if data_dir is not None else run_dir.parent / f"{run_dir.name}{suffix}"
    out = run_demo(run_dir, data, quick=quick, overrides=overrides or [])
    typer.echo(print_tables(run_dir / "eval"))
    t = out["timing"]
    typer.echo(f"\nDemo finished in {t['total'] / 60:.1f} min (pipeline {t['pipeline'] / 60:.1f} min).")
    typer.echo(f"Results: {run_dir / 'eval' / 'summary.md'} — tables auc.csv, localization.csv, seeds.csv; "
               f"timings {run_dir / 'demo_timing.json'}; HTML report: agcl report {run_dir}")


def register(app: typer.Typer) -> None:
    """Add ``agcl demo`` to the CLI."""
    app.command("demo")(demo)
