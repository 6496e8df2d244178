"""``agcl compare RUN…``: finished runs of one recipe and several training seeds, side by side.

    agcl compare runs/demo                       # a folder written by `agcl run --seeds` / `agcl demo`
    agcl compare runs/a runs/b runs/c --out runs/abc-compare --resamples 2000
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors


@user_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Finished run directories (one per training seed), or a folder written by `agcl run --seeds` / `agcl demo`.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: RUN/compare for one multi-seed folder; required otherwise).")] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=1, max=100_000, help="Paired bootstrap resamples of the test images.")] = 1000,
    bootstrap_seed: Annotated[int, typer.Option("--bootstrap-seed", min=0, help="Seed of the resamples.")] = 0,
) -> None:
    """Table 1 and Table 2 as mean ± sd over seeds, the controls, and each model's paired bootstrap CI
    of its difference to BSL and to the matched control BSL+, with one line of reading each."""
    from agcl.errors import ConfigError
    from agcl.pipeline.compare_runs import compare_runs
    from agcl.pipeline.console import print_comparison
    from agcl.pipeline.multiseed import COMPARE, is_multiseed, seed_runs

    paths: list[Path] = []
    for r in runs:
        paths += seed_runs(r) if is_multiseed(r) else [r]
    if out is None:
        if len(runs) != 1 or not is_multiseed(runs[0]):
            raise ConfigError("--out is required unless one folder written by `agcl run --seeds` is given")
        out = runs[0] / COMPARE
    compare_runs(paths, out, n_boot=resamples, boot_seed=bootstrap_seed)
    typer.echo(print_comparison(out))
    typer.echo(f"\nResults: {out / 'summary.md'} (overview.csv, auc.csv, localization.csv, per_seed.csv, paired.csv)")


def register(app: typer.Typer) -> None:
    """Add ``agcl compare`` to the CLI."""
    app.command("compare")(compare)
