"""What ``agcl run``, ``agcl demo`` and ``agcl compare`` print: the tables of one run (``eval/``) or of
several training seeds (``compare/``), each with the settings that made it, the controls beside the
models, and one line per paired difference (:mod:`agcl.evaluation.readings`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from agcl.evaluation.readings import readings
from agcl.evaluation.tables import markdown_table
from agcl.labels import LABELS

ONE_SEED_NOTE = ("One training seed: these intervals cover test-image sampling only, not the spread between "
                 "training seeds (`agcl run --seeds 0,1,2` measures it).")
CRITERIA = {"iobb": "IoBB", "iou": "IoU", "either": "IoBB or IoU"}
OVERVIEW_TITLES = {"model": "Model", "auc": "AUC", "recall": "Recall", "precision": "Precision", "afp": "AFP",
                   "pointing": "Pointing", "maxboxacc": "MaxBoxAcc", "maxboxacc_v2": "MaxBoxAccV2"}
#: Title of the all-class overview (one run or several seeds).
OVERVIEW_HEADING = ("All classes — Table 2 Total (AFP: false boxes per image), pointing game, MaxBoxAcc{how}; "
                    "uniform and centre are the controls")


def _text(df: pd.DataFrame, digits: int) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.{digits}f}", na_rep="—")


def _settings_line(table: pd.DataFrame) -> str:
    """``T(iobb)=0.25, generator wang2017, scope gt_images`` from a long eval/compare CSV's setting columns."""
    first = table.iloc[0] if len(table) else {}
    parts = []
    if "t" in table:
        parts.append(f"T({CRITERIA.get(first.get('criterion', 'iobb'), 'IoBB')})={first['t']:g}")
    for key in ("generator", "scope"):
        if key in table:
            parts.append(f"{key} {first[key]}")
    return ", ".join(parts)


def print_tables(out: Path) -> str:
    """One run's ``eval/``: Table 1 and Table 2 per class, the all-class overview with the controls, and
    the one-seed paired differences (when ``eval.bootstrap`` > 0)."""
    from agcl.pipeline.compare_runs import overview

    auc = pd.read_csv(out / "auc.csv")
    order = list(dict.fromkeys(auc["model"]))
    t1 = auc.pivot(index="label", columns="model", values="auc").reindex([*LABELS, "Mean"]).dropna(how="all")[order]
    lines = ["Table 1 — test AUC", t1.to_string(float_format=lambda v: f"{v:.4f}")]
    if not (out / "localization.csv").is_file():
        lines.append("(no test boxes: no Table 2)")
    else:
        loc = pd.read_csv(out / "localization.csv")
        t2 = loc.pivot(index="label", columns="model", values=["recall", "precision"])
        lines += ["", f"Table 2 — localization (recall / precision at {_settings_line(loc)})",
                  t2.reindex(columns=[(m, n) for m in ("recall", "precision") for n in order]).to_string(
                      float_format=lambda v: f"{v:.2f}"),
                  "", OVERVIEW_HEADING.format(how=""),
                  _text(overview(out).rename(columns=OVERVIEW_TITLES), 3)]
    if (out / "paired.csv").is_file():
        paired = pd.read_csv(out / "paired.csv")
        first = paired.iloc[0]
        lines += ["", f"Paired differences, training seed {first['training_seeds']} "
                      f"({int(first['resamples'])} test-image resamples, 95 % CI):",
                  *[f"  {line}" for line in readings(paired)], ONE_SEED_NOTE]
    return "\n".join(lines)


def _cell(mean: float, sd: float, digits: int) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.{digits}f}" if math.isnan(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _wide(table: pd.DataFrame, value: str, digits: int, order: list[str]) -> pd.DataFrame:
    """label × model cells ``mean ± sd`` from a compare/ long table."""
    cells = table.assign(cell=[_cell(m, s, digits) for m, s in zip(table[f"{value}_mean"], table[f"{value}_sd"],
                                                                   strict=True)])
    wide = cells.pivot(index="label", columns="model", values="cell")
    defined = wide.apply(lambda row: (row.fillna("—") != "—").any(), axis=1)
    labels = [k for k in (*LABELS, "Mean", "Total") if k in wide.index and defined[k]]
    return wide.reindex(index=labels, columns=[m for m in order if m in wide.columns]).rename_axis(
        None, axis=1).reset_index().rename(columns={"label": "Disease"})


def comparison_parts(out: Path) -> list[tuple[str, pd.DataFrame | list[str]]]:
    """The sections of a ``compare/`` folder: (title, table or lines)."""
    info = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    order = info["models"]
    over = pd.read_csv(out / "overview.csv")
    over_cells = pd.DataFrame({"Model": over["model"], **{
        OVERVIEW_TITLES[k]: [_cell(m, s, 3) for m, s in zip(over[f"{k}_mean"], over[f"{k}_sd"], strict=True)]
        for k in OVERVIEW_TITLES if f"{k}_mean" in over}})  # a compare/ written before AFP lacks it
    seeds = ", ".join(map(str, info["training_seeds"]))
    how = (f"training seeds {seeds} ({len(info['training_seeds'])} runs), {info['n_test_images']} test images, "
           f"{info['n_box_images']} with boxes")
    loc_how = (f"T({CRITERIA.get(info.get('criterion', 'iobb'), 'IoBB')})={info.get('t')}, "
               f"generator {info.get('generator')}, scope {info.get('scope')}")
    parts: list[tuple[str, pd.DataFrame | list[str]]] = [
        ("Settings", [f"{how}; {loc_how}; mean ± sd over seeds"]),
        ("Table 1 — test AUC, mean ± sd over seeds", _wide(pd.read_csv(out / "auc.csv"), "auc", 4, order)),
    ]
    if (out / "localization.csv").is_file():
        loc = pd.read_csv(out / "localization.csv")
        parts += [(f"Table 2 — recall at {loc_how}, mean ± sd", _wide(loc, "recall", 2, order)),
                  (f"Table 2 — precision at {loc_how}, mean ± sd", _wide(loc, "precision", 2, order))]
    parts.append((OVERVIEW_HEADING.format(how=" (mean ± sd over seeds)"), over_cells))
    if (out / "paired.csv").is_file():
        paired = pd.read_csv(out / "paired.csv")
        parts.append((f"Paired differences — mean over seeds {seeds}; paired bootstrap over test images "
                      f"({info['resamples']} resamples, seed {info['bootstrap_seed']}), 95 % CI",
                      readings(paired)))
    return parts


def print_comparison(out: Path) -> str:
    """``compare/`` as console text."""
    lines: list[str] = []
    for title, body in comparison_parts(out):
        lines += ["", title]
        lines += [f"  {x}" for x in body] if isinstance(body, list) else [_text(body, 3)]
    return "\n".join(lines).lstrip("\n")


def comparison_markdown(out: Path) -> str:
    """``compare/summary.md``: the console sections as Markdown, plus each seed's own numbers."""
    lines = ["# agcl compare: several training seeds", ""]
    for title, body in comparison_parts(out):
        lines += [f"## {title}", ""]
        lines += [f"- {x}" for x in body] if isinstance(body, list) else [markdown_table(body, 3)]
        lines.append("")
    per_seed = pd.read_csv(out / "per_seed.csv")
    cols = ["model", "seed", *[k for k in OVERVIEW_TITLES if k != "model" and k in per_seed.columns]]
    lines += ["## Each seed (Total rows)", "", markdown_table(per_seed[cols], 4), ""]
    if (out / "paired.csv").is_file():
        p = pd.read_csv(out / "paired.csv")
        keep = ["model", "reference", "metric", "diff", "ci_low", "ci_high", "verdict",
                *[c for c in p.columns if c.startswith("seed_")]]
        lines += ["## Paired differences (per metric; seed_k = that seed's own difference)", "",
                  markdown_table(p[keep], 4), ""]
    return "\n".join(lines)
