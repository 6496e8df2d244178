"""Multi-model tables laid out like the paper's (Table 1: AUC, Table 2: localization), written as
CSV (long form, one row per model × class, with the settings as columns), JSON and Markdown."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from agcl.evaluation.auc import MEAN_ROW, paired_auc_table
from agcl.evaluation.core import ModelResult
from agcl.io import write_json_atomic, write_text_atomic, write_with_atomic
from agcl.labels import LABELS

#: Short column titles as in the paper (PT = Pleural Thickening, AVG = mean AUC).
SHORT = {"Pleural_Thickening": "PT", MEAN_ROW: "AVG"}


def _long(results: list[ModelResult], attr: str, settings: dict) -> pd.DataFrame:
    frames = []
    for r in results:
        df = getattr(r, attr).copy()
        df.insert(0, "model", r.name)
        df["source"] = r.info.get("source", "")
        frames.append(df)
    return _with_settings(pd.concat(frames, ignore_index=True), settings)


def _with_settings(out: pd.DataFrame, settings: dict) -> pd.DataFrame:
    out = out.copy()
    for k, v in settings.items():
        if isinstance(v, dict) or k in out.columns:
            continue  # nested context (per-model sources) is in the 'source' column and summary.json
        out[k] = v if not isinstance(v, (list, tuple)) else str(v)
    return out


def _fmt(v, digits: int) -> str:
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-Markdown table of ``df`` (index not included); NaN shown as an em dash."""
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(_fmt(v, digits) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def auc_wide(results: list[ModelResult]) -> pd.DataFrame:
    """Table 1 layout: one row per model, one column per disease, then AVG (mean over defined classes)."""
    rows = []
    for r in results:
        s = r.auc.set_index("label")["auc"]
        rows.append({"Model": r.name, **{SHORT.get(k, k): float(s[k]) for k in (*LABELS, MEAN_ROW)}})
    return pd.DataFrame(rows)


def paired_auc(results: list[ModelResult]) -> pd.DataFrame:
    """Paired bootstrap AUC differences of every model against the first (empty without bootstrap)."""
    if len(results) < 2 or any(r.auc_samples is None for r in results):
        return pd.DataFrame()
    return paired_auc_table([(r.name, r.auc, r.auc_samples) for r in results])


def paired_wide(paired: pd.DataFrame) -> pd.DataFrame:
    """Disease × model cells ``+0.012 [-0.004, +0.027]`` (difference and 95 % CI; — where undefined)."""
    cell = paired.apply(lambda r: "—" if math.isnan(r["diff"]) else
                        f"{r['diff']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]", axis=1)
    wide = paired.assign(cell=cell).pivot(index="label", columns="model", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(paired["label"])), columns=list(dict.fromkeys(paired["model"])))
    return wide.rename(index=SHORT).rename_axis(None, axis=1).reset_index().rename(columns={"label": "Disease"})


def localization_wide(results: list[ModelResult]) -> pd.DataFrame:
    """Table 2 layout: Disease, GT, Detected/TP/GT hit/Recall/Precision for each model side by side."""
    base = results[0].localization.set_index("label")
    out = pd.DataFrame({"Disease": base.index, "GT": base["gt"].to_numpy()})
    for col, title in (("detected", "Detected"), ("tp", "TP"), ("gt_hit", "GT hit"), ("recall", "Recall"),
                       ("precision", "Precision")):
        for r in results:
            out[f"{title} {r.name}"] = r.localization.set_index("label").loc[base.index, col].to_numpy()
    return out


def sweep_wide(results: list[ModelResult], attr: str, value: str) -> pd.DataFrame:
    """Acc/AFP (or IoU accuracy) per threshold: rows = model × T, columns = classes + Total."""
    frames = []
    for r in results:
        p = getattr(r, attr).pivot(index="t", columns="label", values=value)
        p = p[list(dict.fromkeys(getattr(r, attr)["label"]))].reset_index()
        p.insert(0, "Model", r.name)
        frames.append(p.rename(columns={"t": "T"}))
    return pd.concat(frames, ignore_index=True)


def summary_markdown(results: list[ModelResult], settings: dict, context: dict) -> str:
    """The whole evaluation as Markdown: settings, Table 1 (two halves), Table 2, Acc/AFP, IoU, pointing."""
    setting_line = ", ".join(f"{k}={v}" for k, v in {**context, **settings}.items())
    auc = auc_wide(results)
    half = 1 + len(LABELS) // 2
    n_valid = {r.name: int(r.auc.set_index("label").loc[MEAN_ROW, "n_classes"]) for r in results}
    parts = [
        "# agcl evaluation", "", f"Settings: {setting_line}", "",
        f"## Table 1 — per-class AUC (test split; AVG over classes with a defined AUC: {n_valid})", "",
        markdown_table(auc.iloc[:, :half]), "", markdown_table(auc.iloc[:, [0, *range(half, auc.shape[1])]]), "",
        f"## Table 2 — localization at T({settings['criterion']})={settings['t']} "
        f"(generator {settings['generator']}, scope {settings['scope']})", "",
        markdown_table(localization_wide(results), digits=2), "",
        "## Wang et al. Acc (= recall) at T(IoBB)", "", markdown_table(sweep_wide(results, "wang", "acc"), 2), "",
        "## Wang et al. AFP (false-positive boxes per evaluated image) at T(IoBB)", "",
        markdown_table(sweep_wide(results, "wang", "afp"), 2), "",
        "## Accuracy at T(IoU)", "", markdown_table(sweep_wide(results, "iou", "acc"), 2), "",
        f"## Pointing game (heatmap argmax within {settings.get('pointing_tolerance', 0)} px of a GT box)", "",
        markdown_table(_pointing_wide(results), 2), "",
        "## MaxBoxAcc (largest component, IoU ≥ 0.5) and MaxBoxAccV2 (all contours, mean of IoU 0.3/0.5/0.7), "
        "best global threshold (Choe et al. 2020)", "",
        markdown_table(maxboxacc_wide(results), 3), "",
    ]
    paired = paired_auc(results)
    if not paired.empty:
        parts[10:10] = paired_section(paired, settings)
    return "\n".join(parts)


def maxboxacc_wide(results: list[ModelResult]) -> pd.DataFrame:
    """MaxBoxAcc and MaxBoxAccV2 per class (rows) for each model (columns), with the pair count n."""
    base = results[0].maxboxacc.set_index("label")
    out = pd.DataFrame({"Disease": base.index, "n": base["n"].to_numpy()})
    for col, title in (("maxboxacc", "MaxBoxAcc"), ("maxboxacc_v2", "V2")):
        for r in results:
            out[f"{title} {r.name}"] = r.maxboxacc.set_index("label").loc[base.index, col].to_numpy()
    return out


def paired_section(paired: pd.DataFrame, settings: dict) -> list[str]:
    """Markdown lines: AUC(model) − AUC(reference) with paired bootstrap 95 % CIs."""
    return [f"## Table 1 — AUC difference vs {paired['reference'].iloc[0]} (paired bootstrap over test images, "
            f"{settings.get('bootstrap')} resamples, seed {settings.get('seed')}, 95 % percentile CI)", "",
            markdown_table(paired_wide(paired)), ""]


def _pointing_wide(results: list[ModelResult]) -> pd.DataFrame:
    base = results[0].pointing.set_index("label")
    out = pd.DataFrame({"Disease": base.index, "n": base["n"].to_numpy()})
    for r in results:
        out[r.name] = r.pointing.set_index("label").loc[base.index, "accuracy"].to_numpy()
    return out


#: Files ``agcl evaluate`` writes into its output folder (plus one :func:`boxes_file_name` per model).
EVAL_OUTPUTS: tuple[str, ...] = ("auc.csv", "localization.csv", "wang.csv", "iou.csv", "pointing.csv", "maxboxacc.csv",
                                 "maxboxacc_curve.csv", "auc_diff.csv", "summary.json", "summary.md",
                                 "calibration_split.csv", "calibration_grid.csv", "calibrated.csv",
                                 "calibration.json")


def boxes_file_name(model: str) -> str:
    """``boxes_<model>.csv`` with the model name made safe for a file name."""
    return "boxes_" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)[:150] + ".csv"


def write_tables(out_dir, results: list[ModelResult], settings: dict, context: dict) -> list[Path]:
    """Write ``auc.csv``, ``localization.csv``, ``wang.csv``, ``iou.csv``, ``pointing.csv``, ``maxboxacc.csv``,
    ``maxboxacc_curve.csv``, ``summary.json``, ``summary.md`` and ``boxes_<model>.csv`` into ``out_dir`` (atomic),
    and ``auc_diff.csv`` (paired bootstrap differences vs the first model) when bootstrapped."""
    out = Path(out_dir)
    tags = {**context, **settings}
    written = []
    for fname, attr in (("auc.csv", "auc"), ("localization.csv", "localization"), ("wang.csv", "wang"),
                        ("iou.csv", "iou"), ("pointing.csv", "pointing"), ("maxboxacc.csv", "maxboxacc"),
                        ("maxboxacc_curve.csv", "curve")):
        df = _long(results, attr, tags)
        write_with_atomic(out / fname, lambda tmp, df=df: df.to_csv(tmp, index=False, float_format="%.6g"))
        written.append(out / fname)
    paired = paired_auc(results)
    if not paired.empty:
        df = _with_settings(paired, tags)
        write_with_atomic(out / "auc_diff.csv", lambda tmp: df.to_csv(tmp, index=False, float_format="%.6g"))
        written.append(out / "auc_diff.csv")
    for r in results:
        name = boxes_file_name(r.name)
        write_with_atomic(out / name, lambda tmp, r=r: r.boxes.to_csv(tmp, index=False, float_format="%.4f"))
        written.append(out / name)
    payload = {"settings": settings, "context": context,
               "models": {r.name: {"info": r.info, **{a: getattr(r, a).to_dict(orient="records")
                                                     for a in ("auc", "localization", "wang", "iou", "pointing",
                                                               "maxboxacc")}}
                          for r in results}}
    if not paired.empty:
        payload["auc_diff"] = paired.to_dict(orient="records")
    write_json_atomic(out / "summary.json", payload)
    write_text_atomic(out / "summary.md", summary_markdown(results, settings, context))
    return [*written, out / "summary.json", out / "summary.md"]


def write_calibration(out_dir, results: list[ModelResult], split: pd.DataFrame, how: dict,
                      settings: dict) -> list[Path]:
    """Write ``calibration_split.csv`` (image_id, patient_id, part), ``calibration_grid.csv`` (every candidate
    on the calibration part), ``calibrated.csv`` (Table 2 on the box-test part, fixed vs selected settings)
    and ``calibration.json`` (how the split was made, counts, the selection per model). Columns of
    ``settings`` that a candidate does not vary are added to both CSVs."""
    out = Path(out_dir)
    frames = {"calibration_grid.csv": [], "calibrated.csv": []}
    for r in results:
        if r.calibration is not None:
            frames["calibration_grid.csv"].append(r.calibration.grid.assign(model=r.name))
            frames["calibrated.csv"].append(r.calibration.box_test.assign(model=r.name))
    written = [out / "calibration_split.csv"]
    write_with_atomic(written[0], lambda tmp: split.to_csv(tmp, index=False))
    for fname, parts in frames.items():
        df = pd.concat(parts, ignore_index=True)
        df = df[["model", *[c for c in df.columns if c != "model"]]]
        for k, v in settings.items():  # the settings the candidates share (t, criterion, heatmap, …)
            if k not in df.columns:
                df[k] = v
        write_with_atomic(out / fname, lambda tmp, df=df: df.to_csv(tmp, index=False, float_format="%.6g"))
        written.append(out / fname)
    counts = split.groupby("part").agg(images=("image_id", "size"), patients=("patient_id", "nunique"))
    payload = {"split": {**how, "by": "patient", **{k: v for k, v in counts.to_dict(orient="index").items()}},
               "models": {r.name: r.calibration.info for r in results if r.calibration is not None}}
    write_json_atomic(out / "calibration.json", payload)
    return [*written, out / "calibration.json"]
