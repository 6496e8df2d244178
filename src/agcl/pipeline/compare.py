"""Stage ``eval``: BSL, AGL and AGCL-1…k side by side on the test split (paper §3, Tables 1 and 2).

Uses the pure evaluation (:func:`agcl.evaluation.evaluate_model`, :func:`agcl.evaluation.tables.write_tables`)
on each model stage's ``predictions.csv`` + ``heatmaps.npy``, then appends the pipeline's own sections to
``eval/summary.md``: seed counts per round and disease, seed-box quality against truth (diagnostics),
and — loudly — whether a severity table was available (without one AGCL degrades to AGL-like seeds).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from agcl.evaluation.artifacts import read_table
from agcl.io import write_text_atomic, write_with_atomic
from agcl.labels import LABELS
from agcl.pipeline.context import RunContext
from agcl.pipeline.stages import read_done

log = logging.getLogger(__name__)

NO_SEVERITY_NOTE = ("**No severity table was given.** The curriculum had no grades (each binary network "
                    "trained on all positives in one stage), S1 is empty, and AGCL degrades to AGL-like "
                    "behaviour (seeds from probability alone).")


def run_compare(ctx: RunContext, out: Path, models: list[tuple[str, Path]], seed_dirs: list[tuple[str, Path]]) -> dict:
    """Evaluate ``models`` (display name, stage dir) and write eval/ (auc.csv, localization.csv, summary.md …)."""
    from agcl.boxes import BoxSettings
    from agcl.evaluation import EvalSettings, evaluate_model
    from agcl.evaluation.inputs import load_stage, load_test_set
    from agcl.evaluation.tables import auc_wide, localization_wide, write_tables

    ev = ctx.cfg.eval
    test = load_test_set(ctx.index_dir, ctx.cache_dir)
    settings = EvalSettings(boxes=BoxSettings(generator=ev.generator, upsample_size=ctx.cfg.data.image_size),
                            t=ev.t, scope=ev.scope, bootstrap=ev.bootstrap,
                            seed=ctx.cfg.runtime.seed)
    if test.gt.empty:
        return _auc_only(ctx, out, test, models, seed_dirs)
    results = []
    for name, sdir in models:
        preds, ids, maps = load_stage(sdir, test, test.gt)
        results.append(evaluate_model(name, test.images, preds, ids, maps, test.gt, test.sizes, settings))
    context = {"split": "test", "models": ", ".join(n for n, _ in models)}
    write_tables(out, results, settings.describe(), context)

    _append_seed_sections(ctx, out, seed_dirs)

    auc = auc_wide(results)
    loc = localization_wide(results)
    total = loc[loc["Disease"] == "Total"]
    return {"auc_avg": dict(zip(auc["Model"], auc["AVG"].astype(float), strict=True)),
            "recall": {n: float(total[f"Recall {n}"].iloc[0]) for n, _ in models} if len(total) else {},
            "precision": {n: float(total[f"Precision {n}"].iloc[0]) for n, _ in models} if len(total) else {},
            "severity_table": ctx.severity is not None}


def _append_seed_sections(ctx: RunContext, out: Path, seed_dirs: list[tuple[str, Path]]) -> None:
    from agcl.evaluation.tables import markdown_table

    seeds_table = seed_statistics(seed_dirs)
    write_with_atomic(out / "seeds.csv", lambda p: seeds_table.to_csv(p, index=False))
    extra = ["", "## Seeds per round (counts; seed-box IoBB vs truth where truth exists — diagnostics only)", ""]
    if ctx.severity is None:
        extra[0:0] = ["", "## Severity", "", NO_SEVERITY_NOTE]
    extra.append(markdown_table(seed_overview(seed_dirs), digits=3) if seed_dirs else "(no seed stages)")
    summary_md = (out / "summary.md").read_text(encoding="utf-8")
    write_text_atomic(out / "summary.md", summary_md + "\n".join(extra) + "\n")


def _auc_only(ctx: RunContext, out: Path, test, models: list[tuple[str, Path]],
              seed_dirs: list[tuple[str, Path]]) -> dict:
    """Table 1 only, for datasets whose test split has no ground-truth boxes (Table 2 is undefined)."""
    from agcl.evaluation.artifacts import read_predictions
    from agcl.evaluation.auc import auc_table, paired_auc_table
    from agcl.evaluation.bootstrap import bootstrap_aucs
    from agcl.evaluation.tables import markdown_table, paired_section

    n_boot, seed = ctx.cfg.eval.bootstrap, ctx.cfg.runtime.seed
    y = test.images[list(LABELS)].to_numpy()
    frames, wide, boot = [], [], []
    for name, sdir in models:
        preds = read_predictions(sdir).set_index("image_id").reindex(test.images["image_id"])
        s = preds[list(LABELS)].to_numpy()
        samples = bootstrap_aucs(y, s, n_boot, seed) if n_boot > 0 else None
        table = auc_table(y, s, LABELS, n_boot=n_boot, seed=seed, samples=samples)
        frames.append(table.assign(model=name))
        wide.append({"Model": name, **dict(zip(table["label"], table["auc"], strict=True))})
        boot.append((name, table, samples))
    long = pd.concat(frames, ignore_index=True)
    long = long[["model", *[c for c in long.columns if c != "model"]]]
    write_with_atomic(out / "auc.csv", lambda p: long.to_csv(p, index=False, float_format="%.6g"))
    paired = paired_auc_table(boot) if n_boot > 0 else pd.DataFrame()
    if not paired.empty:
        write_with_atomic(out / "auc_diff.csv", lambda p: paired.to_csv(p, index=False, float_format="%.6g"))
    md = ["# agcl evaluation", "", "## Table 1 — per-class AUC (test split)", "", markdown_table(pd.DataFrame(wide)), "",
          *(paired_section(paired, {"n_boot": n_boot, "seed": seed}) if not paired.empty else []),
          "## Table 2 — localization", "", "Not computed: the test split has no ground-truth boxes.", ""]
    write_text_atomic(out / "summary.md", "\n".join(md))
    _append_seed_sections(ctx, out, seed_dirs)
    return {"auc_avg": {w["Model"]: float(w["Mean"]) for w in wide}, "recall": {}, "precision": {},
            "severity_table": ctx.severity is not None, "localization": False}


def seed_statistics(seed_dirs: list[tuple[str, Path]]) -> pd.DataFrame:
    """Long table: round, label, S1, S2, AGL, total, with_truth, mean_iobb, hit_rate."""
    frames = []
    for name, sdir in seed_dirs:
        counts = read_table(sdir / "counts.csv", "seed counts")
        diag_path = sdir / "diagnostics.csv"
        if diag_path.is_file():
            counts = counts.merge(read_table(diag_path, "seed diagnostics").drop(columns="seeds", errors="ignore"),
                                  on="label", how="left")
        counts.insert(0, "round", name)
        frames.append(counts)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def seed_overview(seed_dirs: list[tuple[str, Path]]) -> pd.DataFrame:
    """One row per seed stage: total seeds, by rule, and overall seed-box quality."""
    rows = []
    for name, sdir in seed_dirs:
        done = read_done(sdir) if (sdir / "DONE").is_file() else {}
        counts = read_table(sdir / "counts.csv", "seed counts")
        diag = done.get("diagnostics") or {}
        rows.append({"round": name, "seeds": int(counts["total"].sum()), "S1": int(counts["S1"].sum()),
                     "S2": int(counts["S2"].sum()), "AGL": int(counts["AGL"].sum()),
                     "diseases with seeds": int((counts["total"] > 0).sum()),
                     "seeds with truth": diag.get("with_truth", 0),
                     "mean IoBB": diag.get("mean_iobb") if diag.get("mean_iobb") is not None else float("nan"),
                     "IoBB>T": diag.get("hit_rate") if diag.get("hit_rate") is not None else float("nan")})
    return pd.DataFrame(rows)


def print_tables(out: Path) -> str:
    """Table 1 and Table 2 (Total row and per class) as text for the console."""
    auc = read_table(out / "auc.csv", "Table 1")
    if not (out / "localization.csv").is_file():
        t1 = auc.pivot(index="label", columns="model", values="auc")[list(dict.fromkeys(auc["model"]))]
        return "Table 1 — test AUC\n" + t1.to_string(float_format=lambda v: f"{v:.4f}") + "\n(no test boxes: no Table 2)"
    loc = read_table(out / "localization.csv", "Table 2")
    t1 = auc.pivot(index="label", columns="model", values="auc")
    t1 = t1.reindex([*LABELS, "Mean"]).dropna(how="all")
    order = list(dict.fromkeys(auc["model"]))
    t1 = t1[order]
    t2 = loc.pivot(index="label", columns="model", values=["recall", "precision"])
    lines = ["Table 1 — test AUC", t1.to_string(float_format=lambda v: f"{v:.4f}"), "",
             "Table 2 — localization (recall / precision at T(IoBB))",
             t2.reindex(columns=[(m, n) for m in ("recall", "precision") for n in order]).to_string(
                 float_format=lambda v: f"{v:.2f}")]
    return "\n".join(lines)
