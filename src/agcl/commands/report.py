"""``agcl report RUN_DIR``: write ``RUN_DIR/eval/report.html`` (self-contained) and its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors


@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `agcl run` / `agcl demo`.")],
    seed: Annotated[int, typer.Option(help="Seed of the gallery's random picks (best/worst are deterministic).")] = 0,
    n_random: Annotated[int, typer.Option("--n-random", help="Random gallery images per class (0-100).")] = 1,
    tile: Annotated[int, typer.Option(help="Longest side of each gallery overlay in pixels (64-1024).")] = 256,
) -> None:
    """Write RUN_DIR/eval/report.html: Tables 1-2, paired differences (forest plot), ROC and training
    curves, seed counts, gallery. For a folder of several training seeds (`agcl run --seeds`, `agcl demo`):
    RUN_DIR/compare/report.html with mean ± sd tables, the controls and the forest plot.

    Figures are embedded in the HTML (base64 PNG) and also saved under RUN_DIR/eval/figures/.
    """
    from agcl.config.ranges import SEED, Range, check
    from agcl.viz.report import ReportOptions, build_report

    check("--seed", seed, SEED)
    check("--n-random", n_random, Range(0, 100))
    check("--tile", tile, Range(64, 1024))
    out = build_report(run_dir, ReportOptions(seed=seed, n_random=n_random, tile=tile))
    typer.echo(str(out))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
