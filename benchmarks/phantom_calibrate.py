"""Calibrate a phantom profile from the baseline alone (results: docs/phantom.md, "Calibration").

Per class, the baseline's (BSL, paper §2.1) test AUC is put beside the AGCL paper's Table 1 BSL row, and
its recall at T(IoBB) = 0.25 (wang2017 boxes) beside Wang et al. 2017's, with the evaluation's uniform and
centre controls scored on the same boxes. No other model is trained or read. Each step resumes.

    B="env PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/phantom_calibrate.py"
    # 1. phantom (a named profile, optionally with spec fields overridden) -> mined severity -> index -> cache
    $B prepare D --n 800 --size 128 --seed 7 --cache 96 --profile calibrated [--spec device_rate=0.3 \\
        --spec class_contrast=Nodule:1.3,Mass:0.8]
    # 2. BSL with the demo recipe (agcl run --only bsl), evaluated with controls; prints the JSON table
    $B bsl D R [--config configs/demo.yaml] [--set optim.max_epochs=6]
    # 3. per-class mean and spread over several runs (e.g. phantom seeds)
    $B table R1 R2 [--out table.md]

``bsl`` writes ``R/calibration.json`` and ``R/eval-controls/`` (``agcl evaluate … --control uniform
--control centre --bootstrap 1000``). Validation AUC is reported beside the test AUC; ``heldout`` pools
validation and test images (more positives per class for choosing knobs on a calibration phantom).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import premise_study as ps

from agcl.evaluation.anchors import AGCL_TABLE1_BSL_AUC, WANG2017_ACC_T025

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
SPEC_PAIRS = ("class_contrast", "class_size", "box_margin")
#: The spec.json fields copied into calibration.json (what a run's phantom was).
PHANTOM_KEYS = ("profile", "seed", "n", "size", "test_fraction", "lesion_contrast", "exposure_shortcut", "device_rate",
                "marker_rate", "view_shortcut", "label_miss_rate", "label_extra_rate", "severity_contrast",
                "severity_size", "class_contrast", "class_size", "box_margin", "cardiomegaly_height", "heart_spread")


def parse_spec(items: list[str]) -> dict[str, object]:
    """``field=value`` overrides of PhantomSpec: a number, ``a,b,c`` for a tuple (severity_size,
    severity_contrast), or ``Label:factor,...`` for class factors."""
    fields: dict[str, object] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key in SPEC_PAIRS:
            fields[key] = tuple((lab, float(f)) for lab, f in (p.split(":") for p in value.split(",") if p))
        elif "," in value:
            fields[key] = tuple(float(v) for v in value.split(","))
        else:
            fields[key] = float(value)
    return fields


def prepare(data: Path, n: int, size: int, seed: int, cache: int, profile: str, fields: dict) -> dict:
    from agcl.data.phantom import phantom_spec, synthesize

    spec = phantom_spec(profile, n=n, size=size, **fields)
    t0 = time.perf_counter()
    synthesize(data / "phantom", seed=seed, spec=spec)
    ps.derive(data, seed, cache)
    fields = {k: v for k, v in spec.to_dict(seed).items() if k not in ("target_prevalence", "severity_dist")}
    return {"data": str(data), "spec": fields, "seconds": round(time.perf_counter() - t0, 1)}


def _auc_rows(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    from agcl.evaluation.auc import per_class_auc
    from agcl.labels import LABELS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a class without positives: NaN, reported as such
        return per_class_auc(y, p, list(LABELS)).set_index("label")


def _mean(values) -> float:
    """Mean of the defined values (NaN if none)."""
    ok = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(ok)) if ok else float("nan")


def _fmt(v: float | None, spec: str) -> str:
    return "–" if v is None or not np.isfinite(v) else format(v, spec)


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def evaluate_bsl(data: Path, run: Path) -> dict:
    """Per-class target vs measured AUC (test, validation, both) and recall; controls; totals."""
    from agcl.evaluation.artifacts import read_predictions
    from agcl.evaluation.inputs import load_test_set
    from agcl.labels import LABELS

    out = run / "eval-controls"
    if not (out / "summary.json").is_file():
        ps.agcl("evaluate", str(data / "index"), "--stage", str(run / "stage_bsl"), "--name", "BSL",
                "--control", "uniform", "--control", "centre", "--bootstrap", "1000", "--out", str(out),
                log=run / "eval-controls.log")
    auc, loc = pd.read_csv(out / "auc.csv"), pd.read_csv(out / "localization.csv")
    point = pd.read_csv(out / "pointing.csv")
    test = load_test_set(data / "index")
    ids = test.images["image_id"].astype(str).tolist()
    y_test = test.images[list(LABELS)].to_numpy()
    p_test = read_predictions(run / "stage_bsl").set_index("image_id").reindex(ids)[list(LABELS)].to_numpy()
    y_val, p_val = ps.bsl_val_scores(run)
    val = _auc_rows(y_val, p_val)
    both = _auc_rows(np.concatenate([y_test, y_val]), np.concatenate([p_test, p_val]))
    bsl_auc = auc[auc["model"] == "BSL"].set_index("label")
    classes = []
    for label in LABELS:
        row = bsl_auc.loc[label]
        classes.append({"label": label, "target_auc": AGCL_TABLE1_BSL_AUC[label], "test_auc": _num(row["auc"]),
                        "test_ci": [_num(row.get("ci_low")), _num(row.get("ci_high"))],
                        "val_auc": _num(val.loc[label, "auc"]), "heldout_auc": _num(both.loc[label, "auc"]),
                        "n_pos_test": int(row["n_pos"]), "n_pos_val": int(val.loc[label, "n_pos"])})

    def cell(frame: pd.DataFrame, model: str, label: str, col: str) -> float | None:
        hit = frame[(frame["model"] == model) & (frame["label"] == label)]
        return _num(hit[col].iloc[0]) if len(hit) else None

    models = loc["model"].unique().tolist()
    boxes = []
    for label in [*WANG2017_ACC_T025, "Total"]:
        row = {"label": label, "target_recall": WANG2017_ACC_T025.get(label), "n_gt": None}
        for m in models:
            row[f"recall_{m}"] = cell(loc, m, label, "recall")
            row[f"precision_{m}"] = cell(loc, m, label, "precision")
            row[f"pointing_{m}"] = cell(point, m, label, "accuracy")
        gt = loc[(loc["model"] == "BSL") & (loc["label"] == label)]["gt"]
        row["n_gt"] = int(gt.iloc[0]) if len(gt) else 0
        boxes.append(row)
    done = json.loads((run / "stage_bsl" / "DONE").read_text())
    by_severity = recall_by_severity(data, out, models)
    return {"run": str(run), "data": str(data), "n_test": len(ids), "n_val": len(y_val),
            "mean": {"target_auc": round(float(np.mean(list(AGCL_TABLE1_BSL_AUC.values()))), 4)}
            | {key: _num(_mean([c[key] for c in classes])) for key in ("test_auc", "val_auc", "heldout_auc")},
            "classes": classes, "boxes": boxes, "recall_by_severity": by_severity,
            "lesion_blind_test_auc": ps.shortcut_auc(data)["test_mean_auc"],
            "bsl_epochs": done.get("epochs_run"), "bsl_seconds": done.get("seconds")}


def recall_by_severity(data: Path, eval_dir: Path, models: list[str]) -> list[dict]:
    """Recall at T(IoBB) = 0.25 of each model's boxes (``eval_dir/boxes_<model>.csv``) per class and per
    drawn severity of the boxed lesion (the phantom's ``truth/lesions.csv``), and over all box classes.

    A model that finds moderate and severe findings but no mild ones loses to uniform noise on a test set
    that is mostly mild; this table shows that split. Rows: label ("all" for every box class), severity,
    n_gt and ``recall_<model>``."""
    from agcl.evaluation.localization import match_boxes

    gt = pd.read_csv(data / "index" / "boxes.csv")
    truth = pd.read_csv(data / "phantom" / "truth" / "lesions.csv")[["image_id", "label", "severity"]]
    gt = gt.merge(truth.drop_duplicates(["image_id", "label"]), on=["image_id", "label"], how="left")
    gt["severity"] = gt["severity"].fillna("unknown")
    hits = {m: match_boxes(pd.read_csv(eval_dir / f"boxes_{m}.csv"), gt, t=0.25)[1] for m in models}
    rows = []
    for label, part in [*gt.groupby("label"), ("all", gt)]:
        for severity, sub in part.groupby("severity"):
            rows.append({"label": label, "severity": severity, "n_gt": len(sub)}
                        | {f"recall_{m}": _num(float(hits[m][sub.index].mean())) for m in models})
    return rows


def run_bsl(data: Path, run: Path, config: Path, sets: list[str]) -> dict:
    load0 = os.getloadavg()[0]
    wall = ps.run_one(data, run, sets, only=["bsl"], config=config)
    res = evaluate_bsl(data, run)
    spec = json.loads((data / "phantom" / "truth" / "spec.json").read_text())
    res |= {"config": str(config), "sets": sets, "wall_s": wall, "load_avg_1min": [round(load0, 2),
                                                                                    round(os.getloadavg()[0], 2)],
            "phantom": {k: spec[k] for k in PHANTOM_KEYS}}
    (run / "calibration.json").write_text(json.dumps(res, indent=1))
    return res


def table(runs: list[Path]) -> str:
    """Markdown: per class, the target, the mean and every run's value (test AUC; recall BSL / uniform)."""
    res = [json.loads((r / "calibration.json").read_text()) for r in runs]
    head = " / ".join(f"{r['phantom']['profile']} s{r['phantom']['seed']} n{r['phantom']['n']}" for r in res)
    lines = [f"Runs: {head}", "", "| class | target AUC | BSL test AUC (mean) | per run | n pos (per run) |",
             "|---|---|---|---|---|"]
    for i, label in enumerate(c["label"] for c in res[0]["classes"]):
        vals = [r["classes"][i]["test_auc"] for r in res]
        lines.append(f"| {label} | {res[0]['classes'][i]['target_auc']:.3f} | "
                     f"{_fmt(_mean(vals), '.3f')} | " + ", ".join("–" if v is None else f"{v:.3f}" for v in vals)
                     + " | " + ", ".join(str(r["classes"][i]["n_pos_test"]) for r in res) + " |")
    means = [r["mean"]["test_auc"] for r in res]
    lines.append(f"| **mean** | {res[0]['mean']['target_auc']:.3f} | **{np.mean(means):.3f}** | "
                 + ", ".join(f"{v:.3f}" for v in means) + " | |")
    lines += ["", "Recall at T(IoBB) = 0.25 (wang2017 boxes) and the pointing game; controls are means over runs.", "",
              "| class | Wang 2017 | BSL recall (mean) | per run | uniform | centre | BSL pointing | uniform pointing "
              "| GT boxes |", "|---|---|---|---|---|---|---|---|---|"]
    for i, label in enumerate(b["label"] for b in res[0]["boxes"]):
        rows = [r["boxes"][i] for r in res]
        keys = ("recall_BSL", "recall_uniform", "recall_centre", "pointing_BSL", "pointing_uniform")
        f = {key: _mean([x.get(key) for x in rows]) for key in keys}
        target = rows[0]["target_recall"]
        lines.append(f"| {label} | {'–' if target is None else f'{target:.3f}'} | {_fmt(f['recall_BSL'], '.2f')} | "
                     + ", ".join(_fmt(x["recall_BSL"], ".2f") for x in rows)
                     + " | " + " | ".join(_fmt(f[k], ".2f") for k in keys[1:]) + " | "
                     + ", ".join(str(x["n_gt"]) for x in rows) + " |")
    sev = [r.get("recall_by_severity") for r in res]
    if all(sev):
        lines += ["", "Recall by drawn severity (Cardiomegaly, Effusion, all box classes): BSL / uniform, per run", "",
                  "| class | severity | " + " | ".join(f"run {i + 1}" for i in range(len(res))) + " |",
                  "|---|---|" + "---|" * len(res)]
        for label in ("Cardiomegaly", "Effusion", "all"):
            for severity in ("mild", "moderate", "severe"):
                cells = []
                for rows in sev:
                    hit = [x for x in rows if x["label"] == label and x["severity"] == severity]
                    cells.append("–" if not hit else f"{_fmt(hit[0].get('recall_BSL'), '.2f')} / "
                                 f"{_fmt(hit[0].get('recall_uniform'), '.2f')} (n {hit[0]['n_gt']})")
                lines.append(f"| {label} | {severity} | " + " | ".join(cells) + " |")
    blind = ", ".join(f"{r['lesion_blind_test_auc']:.3f}" for r in res)
    lines += ["", f"Lesion-blind classifier (recorded cues only), test mean AUC per run: {blind}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("data", type=Path)
    p.add_argument("--n", type=int, default=800)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=int, default=96, help="cache side (the demo: 96 px from a 128-px phantom)")
    p.add_argument("--profile", default="calibrated")
    p.add_argument("--spec", action="append", default=[], help="field=value (class factors: Label:f,Label:f)")
    p = sub.add_parser("bsl")
    p.add_argument("data", type=Path)
    p.add_argument("run", type=Path)
    p.add_argument("--config", type=Path, default=DEMO_CONFIG)
    p.add_argument("--set", dest="sets", action="append", default=[])
    p = sub.add_parser("table")
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    if a.cmd == "prepare":
        print(json.dumps(prepare(a.data, a.n, a.size, a.seed, a.cache, a.profile, parse_spec(a.spec))))
    elif a.cmd == "bsl":
        print(json.dumps(run_bsl(a.data, a.run, a.config, a.sets), indent=1))
    else:
        md = table(a.runs)
        print(md)
        if a.out:
            a.out.write_text(md)


if __name__ == "__main__":
    main()
