"""``agcl demo``: synthesize the phantom, mine its reports, index, cache, and run the whole pipeline.

    agcl demo                         # 3 training seeds + BSL+ in runs/demo, phantom under runs/demo-data
    agcl demo --quick                 # one seed, smaller phantom, 1 round, fewer epochs (runs/demo-quick)
    agcl demo --run-dir /tmp/d --data-dir /tmp/phantom --set refine.lam=0.05
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors

log = logging.getLogger(__name__)


QUICK_NOTE = ("agcl demo --quick is one training seed of a smaller recipe: its differences between models are "
              "not evidence. `agcl demo` runs 3 seeds with the matched control BSL+ and paired CIs.")


@user_errors
def demo(
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Run directory of the demo (default: runs/demo, or runs/demo-quick with --quick).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where the phantom, severity table, index and cache go (default: <run-dir>-data).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="One training seed: smaller phantom (400 images), 1 AGCL round, 2 baseline epochs, 1 refine epoch.")] = False,
    seeds: Annotated[str | None, typer.Option("--seeds", help="Training seeds of the full demo, e.g. 0,1,2,3 (default 0,1,2).")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a value of the packaged demo config, e.g. --set refine.rounds=3 (repeatable).")] = None,
) -> None:
    """Run AGCL end to end on a synthetic phantom for 3 training seeds with the matched control BSL+, and
    print Table 1 and Table 2 as mean ± sd, the controls, and each model's paired CI vs BSL and BSL+."""
    from agcl.errors import ConfigError
    from agcl.logs import setup_console_logging
    from agcl.pipeline.console import print_comparison, print_tables
    from agcl.pipeline.demo import run_demo
    from agcl.pipeline.multiseed import parse_seeds

    setup_console_logging()
    if quick and seeds:
        raise ConfigError("--quick is one training seed; drop --seeds (or --quick)")
    run_dir = run_dir if run_dir is not None else Path("runs/demo-quick" if quick else "runs/demo")
    data = data_dir if data_dir is not None else run_dir.parent / f"{run_dir.name}-data"
    out = run_demo(run_dir, data, quick=quick, overrides=overrides or [],
                   seeds=parse_seeds([seeds]) if seeds is not None else None)
    t = out["timing"]
    if out["compare"] is not None:
        typer.echo(print_comparison(out["compare"]))
        where = f"{out['compare'] / 'summary.md'} (each seed's run: {run_dir}/seed_<k>)"
    else:
        typer.echo(print_tables(run_dir / "eval"))
        typer.echo(f"\n{QUICK_NOTE}")
        where = str(run_dir / "eval" / "summary.md")
    typer.echo(f"\nDemo finished in {t['total'] / 60:.1f} min (pipeline {t['pipeline'] / 60:.1f} min).")
    typer.echo(f"Results: {where}; timings {run_dir / 'demo_timing.json'}; HTML report: agcl report {run_dir}")


def register(app: typer.Typer) -> None:
    """Add ``agcl demo`` to the CLI."""
    app.command("demo")(demo)
