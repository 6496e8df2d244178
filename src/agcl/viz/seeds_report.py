"""``agcl report RUN`` for a folder of several training seeds: ``RUN/compare/report.html``.

It reads only ``RUN/compare/`` (written by ``agcl run --seeds`` / ``agcl compare``) and each seed's
``environment.json``: the seeds and their settings, Table 1 and Table 2 as mean ± sd with the controls,
every seed's own numbers, and the paired differences vs BSL and BSL+ as a forest plot with one reading
per difference. Each seed's full report (ROC, training curves, gallery) is ``agcl report RUN/seed_<k>``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from agcl.errors import InputError
from agcl.io import write_text_atomic, write_with_atomic
from agcl.viz import html as H
from agcl.viz.forest import forest_section
from agcl.viz.rundata import read_csv

log = logging.getLogger(__name__)


def build_seeds_report(run_dir: str | Path) -> Path:
    """Write ``RUN/compare/report.html`` (and ``RUN/compare/figures/forest.png``); return the HTML path."""
    from agcl.environment import FILE, summary_line
    from agcl.pipeline.compare_runs import OVERVIEW
    from agcl.pipeline.console import comparison_parts
    from agcl.pipeline.multiseed import COMPARE, seed_runs

    root = Path(run_dir)
    out = root / COMPARE
    if not (out / "summary.json").is_file():
        raise InputError(f"{out / 'summary.json'} not found: finish the seeds (`agcl run --seeds …`) or run "
                         f"`agcl compare {root}` first")
    info = json.loads((out / "summary.json").read_text(encoding="utf-8"))

    def add_figure(name: str, png: bytes, caption: str, width: int | None = None) -> str:
        write_with_atomic(out / "figures" / name, lambda tmp: tmp.write_bytes(png))
        return H.figure(png, caption, width=width)

    runs = []
    for run in seed_runs(root):
        record = _last_environment(run / FILE)
        status = "finished" if (run / "eval" / "DONE").is_file() else "not finished"
        runs.append(f"{run.name}: {status}; " + (summary_line(record) if record else "no readable environment.json"))
    sections = [("runs", "Training seeds", H.bullet_list(runs) + H.para(
        "The CIs are paired bootstrap intervals over test images of the seed-mean difference; the spread "
        "between seeds is the ± sd and each seed's own difference (open circles, seed_k columns). Per-seed "
        f"report: agcl report {root}/seed_<k>.", "note"))]
    for i, (title, body) in enumerate(comparison_parts(out)):
        inner = H.bullet_list(body) if isinstance(body, list) else H.table(body)
        if title.startswith("Paired differences"):
            paired = read_csv(out / "paired.csv") if (out / "paired.csv").is_file() else None
            inner = forest_section(paired, add_figure, "compare/paired.csv", one_seed=len(info["training_seeds"]) == 1)
        sections.append((f"part{i}", title, inner))
    per_seed = read_csv(out / "per_seed.csv")
    cols = [c for c in ("model", "seed", *OVERVIEW) if c in per_seed.columns]
    sections.append(("per_seed", "Each seed (Total rows)", H.table(pd.DataFrame(per_seed[cols]), digits=4)))
    html = H.page(f"agcl report — {root.resolve().name} ({len(info['training_seeds'])} training seeds)", sections)
    write_text_atomic(out / "report.html", html)
    log.info("report written to %s", out / "report.html")
    return out / "report.html"


def _last_environment(path: Path) -> dict | None:
    """The latest entry of a run's ``environment.json`` (None when absent or unreadable; a warning names it)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))["invocations"][-1]
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as exc:
        log.warning("%s: unreadable (%s); ignored", path, exc)
        return None
