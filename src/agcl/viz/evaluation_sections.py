"""Report sections for the threshold-free localization metrics and the published anchors.

- MaxBoxAcc / MaxBoxAccV2 (eval/maxboxacc.csv) as a class × model table, and the BoxAcc-vs-τ curves
  (eval/maxboxacc_curve.csv) as a figure.
- Our Acc at T(IoBB) = 0.25 beside Wang et al. 2017 and the AGCL paper, shown only when the index was
  split with NIH's official lists (``index.json``'s ``split_source == "official"``): on any other split
  the numbers are not comparable and the section says so instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from agcl.evaluation.anchors import acc_beside_anchors
from agcl.viz import html as H
from agcl.viz.figures import box_accuracy_figure, figure_png
from agcl.viz.rundata import RunData


def maxboxacc_section(run: RunData, add_figure: Callable[[str, bytes, str], str]) -> str:
    """Class × model MaxBoxAcc and V2 table plus the curve figure (``add_figure(name, png, caption)``)."""
    table = run.table("maxboxacc.csv")
    if table is None or "maxboxacc" not in table.columns:
        return H.para("eval/maxboxacc.csv not found: run `agcl evaluate` on this run first.", "note")
    models = list(dict.fromkeys(table["model"].astype(str)))
    labels = list(dict.fromkeys(table["label"].astype(str)))
    wide = pd.DataFrame({"Disease": labels})
    by = table.astype({"model": str, "label": str}).set_index(["model", "label"])
    wide["n"] = [int(by.loc[(models[0], lab), "n"]) for lab in labels]
    for col, title in (("maxboxacc", "MaxBoxAcc"), ("maxboxacc_v2", "V2")):
        for m in models:
            wide[f"{title} {m}"] = [by[col].get((m, lab), float("nan")) for lab in labels]
    parts = [H.table(wide, digits=3), H.para(
        "MaxBoxAcc: box of the largest component at IoU ≥ 0.5; V2: best box of all contours, mean over IoU "
        "0.3/0.5/0.7; each at the best GLOBAL threshold over the class's pairs (Total: one threshold for all "
        "pairs), Choe et al. 2020. Source: eval/maxboxacc.csv.", "note")]
    curve = run.table("maxboxacc_curve.csv")
    fig = box_accuracy_figure(curve) if curve is not None else None
    if fig is not None:
        parts.append(add_figure("maxboxacc_curve.png", figure_png(fig),
                                "BoxAcc of all evaluated pairs against the heatmap threshold; dots: the maxima."))
    return "".join(parts)


def split_source(index_dir: Path | None) -> str:
    """``split_source`` recorded in the index's ``index.json`` ("" when unknown)."""
    if index_dir is None or not (Path(index_dir) / "index.json").is_file():
        return ""
    try:
        meta = json.loads((Path(index_dir) / "index.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(meta.get("split_source", "")) if isinstance(meta, dict) else ""


def anchors_section(run: RunData, index_dir: Path | None) -> str:
    """Our Acc at T(IoBB) = 0.25 beside the published rows, on the official NIH split only."""
    source = split_source(index_dir)
    if source != "official":
        return H.para(f"Published NIH numbers are shown only for runs on the official NIH split (this index: "
                      f"split_source={source or 'unknown'}); see docs/evaluation.md for the anchors.", "note")
    wang = run.table("wang.csv")
    if wang is None or not {"model", "label", "t", "acc"} <= set(wang.columns):
        return H.para("eval/wang.csv not found: run `agcl evaluate` first.", "note")
    table = acc_beside_anchors(wang)
    return H.table(table, digits=3) + H.para(
        "Acc = share of GT boxes hit (IoBB > 0.25). Wang et al. 2017 used another release, split and generator "
        "settings: read it as an order of magnitude, not a head-to-head result.", "note")
