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
    resamples: Annotated[int, typer.Option("--resamples", help="Paired bootstrap resamples of the test images (1-100000).")] = 1000,
    bootstrap_seed: Annotated[int, typer.Option("--bootstrap-seed", help="Seed of the resamples.")] = 0,
) -> None:
    """Table 1 and Table 2 as mean ± sd over seeds, the controls, and each model's paired bootstrap CI
    of its difference to BSL and to the matched control BSL+, with one line of reading each."""
    from agcl.config.ranges import SEED, Range, check
    from agcl.errors import ConfigError
    from agcl.paths import check_apart
    from agcl.pipeline.compare_runs import compare_runs
    from agcl.pipeline.console import print_comparison
    from agcl.pipeline.multiseed import COMPARE, is_multiseed, seed_runs
    from agcl.runlock import folder_lock

    check("--resamples", resamples, Range(1, 100_000))
    check("--bootstrap-seed", bootstrap_seed, SEED)

    paths: list[Path] = []
    for r in runs:
        paths += seed_runs(r) if is_multiseed(r) else [r]
    if out is None:
        if len(runs) != 1 or not is_multiseed(runs[0]):
            raise ConfigError("--out is required unless one folder written by `agcl run --seeds` is given")
        out = runs[0] / COMPARE
    written = ("overview.csv", "auc.csv", "localization.csv", "per_seed.csv", "paired.csv", "summary.json",
               "summary.md", "report.html")
    read = ("auc.csv", "localization.csv", "summary.json", "image_counts.csv", "paired.csv", "DONE")
    check_apart([(f"--out ({n})", out / n) for n in written],
                [("RUN", p / "eval" / n) for p in paths for n in read] + [("RUN", p / "config.yaml") for p in paths])
    with folder_lock(out):
        compare_runs(paths, out, n_boot=resamples, boot_seed=bootstrap_seed)
    typer.echo(print_comparison(out))
    typer.echo(f"\nResults: {out / 'summary.md'} (overview.csv, auc.csv, localization.csv, per_seed.csv, paired.csv)")


def register(app: typer.Typer) -> None:
    """Add ``agcl compare`` to the CLI."""
    app.command("compare")(compare)
