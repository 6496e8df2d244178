"""Report figures: ROC curves per class, training curves, seed counts per class and round.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no global state, no
display needed) and returned as PNG bytes, so callers decide where they go.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import auc as trapezoid_auc
from sklearn.metrics import roc_curve


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes on the Agg canvas."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def roc_figure(y_true: np.ndarray, probs_by_stage: Mapping[str, np.ndarray], labels: Sequence[str]) -> Figure:
    """One ROC panel per class with one curve per stage; the legend gives each stage's AUC.

    A class with only one value present in ``y_true`` has no ROC; its panel says so.

    Shapes: y_true ``[N, K]`` 0/1; each probs ``[N, K]`` float in [0, 1] (rows aligned with y_true).
    """
    rows, cols = _grid(len(labels), 4)
    # A fixed grid with shared axes: constrained layout costs seconds for 14 panels.
    fig = Figure(figsize=(3.0 * cols, 2.7 * rows))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.07, top=0.96, wspace=0.08, hspace=0.22)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(labels):]:
        ax.set_axis_off()
    for k, label in enumerate(labels):
        ax = axes[k]
        ax.set_title(label, fontsize=9, pad=3)
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
        ax.tick_params(labelsize=7)
        y = y_true[:, k]
        if len(np.unique(y)) < 2:
            ax.text(0.5, 0.5, "AUC undefined\n(one class present)", ha="center", va="center", fontsize=8)
            continue
        for s_i, (stage, probs) in enumerate(probs_by_stage.items()):
            fpr, tpr, _ = roc_curve(y, probs[:, k])
            auc = trapezoid_auc(fpr, tpr)  # equals roc_auc_score on the same curve
            ax.plot(fpr, tpr, lw=1.1, color=f"C{s_i % 10}", label=f"{stage} {auc:.3f}")
        ax.legend(fontsize=6, loc="lower right", handlelength=1.2, borderaxespad=0.3)
    fig.supxlabel("false positive rate", fontsize=9)
    fig.supylabel("true positive rate", fontsize=9)
    return fig


def epoch_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch ``train/*`` and ``val/*`` quantities per top-level stage, in long form.

    metrics.jsonl events with ``event == "epoch"`` are used when an ``event`` column exists. Sub-runs
    named ``<stage>/<part>`` (e.g. one binary curriculum network per disease) are averaged per epoch
    into one line for ``<stage>``.

    Returns:
        DataFrame ``stage, epoch, split (train|val), quantity, value``.
    """
    if metrics.empty or "stage" not in metrics.columns:
        return pd.DataFrame(columns=["stage", "epoch", "split", "quantity", "value"])
    rows = metrics[metrics["event"] == "epoch"] if "event" in metrics.columns else metrics
    cols = [c for c in rows.columns if "/" in c and c.split("/", 1)[0] in ("train", "val")
            and pd.api.types.is_numeric_dtype(rows[c])]
    x = "epoch" if "epoch" in rows.columns else None
    if not cols or x is None:
        return pd.DataFrame(columns=["stage", "epoch", "split", "quantity", "value"])
    long = rows.assign(stage=rows["stage"].astype(str).str.split("/").str[0]).melt(
        id_vars=["stage", x], value_vars=cols, var_name="key", value_name="value").dropna(subset=["value"])
    long[["split", "quantity"]] = long["key"].str.split("/", n=1, expand=True)
    out = long.groupby(["stage", x, "split", "quantity"], sort=False, as_index=False)["value"].mean()
    return out.rename(columns={x: "epoch"})


def training_figure(metrics: pd.DataFrame, stage_order: Sequence[str] = ()) -> Figure | None:
    """Training curves: one panel per quantity (loss, cls, reg …), one colour per stage, train solid
    and validation dashed, against the epoch (1-based). Returns None when nothing was logged."""
    curves = epoch_curves(metrics)
    if curves.empty:
        return None
    quantities = sorted(curves["quantity"].unique(), key=lambda q: (q != "loss", q))
    stages = list(dict.fromkeys([*(s for s in stage_order if s in set(curves["stage"])), *curves["stage"]]))
    rows, cols = _grid(len(quantities), 3)
    fig = Figure(figsize=(4.4 * cols, 3.0 * rows + 0.25 * (len(stages) + 1)), layout="constrained")
    handles: dict[str, object] = {}
    for i, q in enumerate(quantities):
        ax = fig.add_subplot(rows, cols, i + 1)
        for j, stage in enumerate(stages):
            for split, style in (("train", "-"), ("val", "--")):
                part = curves[(curves["quantity"] == q) & (curves["stage"] == stage) & (curves["split"] == split)]
                if not part.empty:
                    (line,) = ax.plot(part["epoch"] + 1, part["value"], style, color=f"C{j % 10}", marker=".")
                    handles.setdefault(f"{stage} {split}", line)
        ax.set_title(q, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=min(6, len(handles)),
               fontsize=7)
    return fig


def seed_counts_figure(counts: pd.DataFrame) -> Figure | None:
    """Seeds per class and round, bars stacked by rule (S1 = severe|moderate, S2 = p > t; §2.3).

    Args:
        counts: columns ``round, label, rule, count`` (see :func:`agcl.viz.rundata.seed_counts`).
    """
    if counts.empty:
        return None
    labels = list(dict.fromkeys(counts["label"]))
    rounds = sorted(counts["round"].unique())
    rules = sorted(counts["rule"].unique())
    width = 0.8 / max(1, len(rounds))
    fig = Figure(figsize=(max(6.0, 0.7 * len(labels) * max(1, len(rounds)) ** 0.5 + 2), 3.6),
                 layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(labels))
    hatches = ["", "//", "..", "xx"]
    colours = [f"C{i}" for i in range(10)]
    for r_i, rnd in enumerate(rounds):
        bottom = np.zeros(len(labels))
        for s_i, rule in enumerate(rules):
            sel = counts[(counts["round"] == rnd) & (counts["rule"] == rule)].set_index("label")["count"]
            vals = np.array([float(sel.get(lab, 0)) for lab in labels])
            if not vals.any():
                continue  # no legend entry for a rule that round did not use
            ax.bar(x + (r_i - (len(rounds) - 1) / 2) * width, vals, width, bottom=bottom,
                   color=colours[r_i % 10], hatch=hatches[s_i % 4], edgecolor="white",
                   label=f"{rnd} {rule}")
            bottom += vals
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("seed images", fontsize=9)
    ax.legend(fontsize=7, ncols=2)
    return fig



def box_accuracy_figure(curve: pd.DataFrame) -> Figure | None:
    """BoxAcc against the heatmap threshold τ for all pairs (``Total``), one line per model: MaxBoxAcc's
    curve (largest component, IoU ≥ 0.5) and MaxBoxAccV2's (all contours) at IoU 0.3/0.5/0.7. A dot marks
    each curve's maximum (the global τ).

    Args:
        curve: ``maxboxacc_curve.csv`` (model, label, boxes, iou, threshold, acc).
    """
    total = curve[curve["label"] == "Total"]
    if total.empty:
        return None
    panels = [("largest", 0.5, "MaxBoxAcc: largest component, IoU ≥ 0.5")]
    panels += [("all", d, f"V2: all contours, IoU ≥ {d:g}") for d in sorted(total.loc[total["boxes"] == "all", "iou"].unique())]
    fig = Figure(figsize=(3.0 * len(panels), 2.9), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False).ravel()
    for ax, (kind, d, title) in zip(axes, panels, strict=True):
        ax.set_title(title, fontsize=8)
        sel = total[(total["boxes"] == kind) & np.isclose(total["iou"], d)]
        for i, (model, g) in enumerate(sel.groupby("model", sort=False)):
            ax.plot(g["threshold"], g["acc"], color=f"C{i % 10}", lw=1.2, label=str(model))
            best = g.loc[g["acc"].idxmax()] if g["acc"].notna().any() else None
            if best is not None:
                ax.plot([best["threshold"]], [best["acc"]], "o", color=f"C{i % 10}", ms=4)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("heatmap threshold τ (min–max normalised)", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("BoxAcc (all pairs)", fontsize=8)
    axes[0].legend(fontsize=7)
    return fig
