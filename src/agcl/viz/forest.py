"""The paired differences of a run or of several training seeds as a forest plot, and its report section.

One panel per metric (AUC, recall, precision, pointing); one row per ``model − reference`` (every model
vs BSL, then every refinement vs BSL+); the seed-mean difference as a dot with its paired bootstrap 95 %
CI as a bar (green: the CI is above 0, red: below, grey: includes 0), each seed's own difference as a
small open circle, and a line at 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from agcl.evaluation.paired import METRICS
from agcl.evaluation.readings import METRIC_NAMES, MINUS, readings
from agcl.viz import html as H
from agcl.viz.figures import figure_png

COLOURS = {"gain": "#1a7f37", "loss": "#cf222e", "noise": "0.35", "undefined": "0.7"}


def forest_figure(paired: pd.DataFrame) -> Figure | None:
    """Forest plot of a paired table (:func:`agcl.evaluation.readings.paired_table` columns).

    Returns None for an empty table.
    """
    if paired.empty:
        return None
    rows = list(dict.fromkeys(zip(paired["model"], paired["reference"], strict=True)))
    seed_cols = [c for c in paired.columns if c.startswith("seed_")]
    fig = Figure(figsize=(2.6 * len(METRICS) + 1.4, 0.42 * len(rows) + 1.1), layout="constrained")
    axes = fig.subplots(1, len(METRICS), sharey=True, squeeze=False).ravel()
    y = np.arange(len(rows))[::-1]
    for ax, metric in zip(axes, METRICS, strict=True):
        part = paired[paired["metric"] == metric].set_index(["model", "reference"])
        ax.axvline(0, color="0.6", lw=0.8)
        for yi, key in zip(y, rows, strict=True):
            if key not in part.index:
                continue
            r = part.loc[key]
            colour = COLOURS.get(str(r["verdict"]), "0.35")
            if np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"]):
                ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=colour, lw=2)
            seeds = r[seed_cols].to_numpy(float) if seed_cols else np.zeros(0)
            ax.plot(seeds, np.full(len(seeds), yi), "o", mfc="none", mec="C0", ms=4, zorder=3)
            ax.plot([r["diff"]], [yi], "o", color=colour, ms=5)
        ax.set_title(f"{METRIC_NAMES[metric]} difference", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(y, [f"{m} {MINUS} {ref}" for m, ref in rows], fontsize=8)
    return fig


def forest_section(paired: pd.DataFrame | None, add_figure: Callable[[str, bytes, str], str], source: str,
                   one_seed: bool) -> str:
    """The report section: forest plot, one reading per difference, and the table (``source`` names the file)."""
    if paired is None or paired.empty:
        return H.para(f"{source} not found: paired differences need eval.bootstrap > 0 (or `agcl compare`).", "note")
    first = paired.iloc[0]
    seeds = str(first.get("training_seeds", ""))
    what = (f"training seed {seeds} (one seed: the CI covers test-image sampling only, not training-seed "
            "variation)" if one_seed else f"mean over training seeds {seeds}")
    caption = (f"Paired differences, {what}; paired bootstrap over test images ({first.get('resamples')} resamples, "
               "95 % CI); dot: difference, bar: CI, open circles: each seed.")
    fig = forest_figure(paired)
    parts = [add_figure("forest.png", figure_png(fig), caption)] if fig is not None else []
    parts.append(H.bullet_list(readings(paired)))
    keep = ["model", "reference", "metric", "diff", "ci_low", "ci_high", "verdict",
            *[c for c in paired.columns if c.startswith("seed_")]]
    parts.append(H.table(paired[keep], digits=4) + H.para(f"Source: {source}.", "note"))
    return "".join(parts)
