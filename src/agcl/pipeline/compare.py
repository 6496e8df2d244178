"""Stage ``eval``: BSL, BSL+, AGL and AGCL-1…k side by side on the test split (paper §3, Tables 1 and 2).

Uses the pure evaluation (:func:`agcl.evaluation.evaluate_model`, :func:`agcl.evaluation.tables.write_tables`)
on each model stage's ``predictions.csv`` + ``heatmaps.npy`` and on the uniform and centre controls
(``eval.controls``), writes the per-image counts the paired bootstrap re-weights (``image_counts.csv``) and
this run's paired differences vs BSL and BSL+ (``paired.csv``, one training seed), then appends the
pipeline's own sections to ``eval/summary.md``: seed counts per round and disease, seed-box quality against
truth (diagnostics), and — loudly — whether a severity table was available (without one AGCL degrades to
AGL-like seeds).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
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


BASELINE = "BSL"
#: Display name of the matched control: BSL trained for the refinement's epochs at λ = 0 (docs/pipeline.md).
CONTROL = "BSL+"


def comparisons(names: list[str]) -> list[tuple[str, str]]:
    """The paired differences a run reports: every model − BSL, and every refinement − BSL+ when the
    matched control ran. ``names``: the models of the run (controls excluded), BSL first."""
    if BASELINE not in names:
        return []
    out = [(n, BASELINE) for n in names if n != BASELINE]
    if CONTROL in names:
        out += [(n, CONTROL) for n in names if n not in (BASELINE, CONTROL)]
    return out


def run_compare(ctx: RunContext, out: Path, models: list[tuple[str, Path]], seed_dirs: list[tuple[str, Path]]) -> dict:
    """Evaluate ``models`` (display name, stage dir) and the controls of ``eval.controls``; write eval/
    (auc.csv, localization.csv, pointing.csv, maxboxacc.csv, image_counts.csv, paired.csv, summary.md …)."""
    from agcl.boxes import BoxSettings
    from agcl.evaluation import EvalSettings, evaluate_model
    from agcl.evaluation.controls import control_outputs
    from agcl.evaluation.inputs import load_stage, load_test_set
    from agcl.evaluation.paired import model_counts
    from agcl.evaluation.tables import auc_wide, localization_wide, write_tables

    ev = ctx.cfg.eval
    test = load_test_set(ctx.index_dir, ctx.cache_dir)
    settings = EvalSettings(boxes=BoxSettings(generator=ev.generator, upsample_size=ctx.cfg.data.image_size),
                            t=ev.t, scope=ev.scope, bootstrap=ev.bootstrap,
                            seed=ctx.cfg.runtime.seed)
    if test.gt.empty:
        return _auc_only(ctx, out, test, models, seed_dirs)
    inputs = []
    for name, sdir in models:
        preds, ids, maps = load_stage(sdir, test, test.gt)
        inputs.append((name, Path(sdir).name, preds, ids, maps))
    hw = tuple(inputs[0][4].shape[2:])
    ids = test.images["image_id"].tolist()
    for kind in ev.controls:
        probs, maps = control_outputs(kind, len(ids), len(LABELS), hw, settings.seed)
        inputs.append((kind, f"control:{kind}", pd.DataFrame(probs, columns=list(LABELS)).assign(image_id=ids),
                       ids, maps))
    results, counts = [], {}
    for name, source, preds, heat_ids, maps in inputs:
        res = evaluate_model(name, test.images, preds, heat_ids, maps, test.gt, test.sizes, settings)
        res.info["source"] = source
        results.append(res)
        counts[name] = model_counts(res, preds, heat_ids, maps, test, settings)
    context = {"split": "test", "models": {r.name: r.info["source"] for r in results}}
    write_tables(out, results, settings.describe(), context)
    _write_counts(out, test.images["image_id"], counts)
    names = [n for n, _ in models]
    scores = [_aligned(preds, test.images) for _, _, preds, _, _ in inputs[:len(models)]]
    _paired_section(ctx, out, test, names, scores, [counts[n] for n in names], settings.describe())

    _append_seed_sections(ctx, out, seed_dirs)

    auc = auc_wide(results)
    loc = localization_wide(results)
    total = loc[loc["Disease"] == "Total"]
    return {"auc_avg": dict(zip(auc["Model"], auc["AVG"].astype(float), strict=True)),
            "recall": {r.name: float(total[f"Recall {r.name}"].iloc[0]) for r in results} if len(total) else {},
            "precision": {r.name: float(total[f"Precision {r.name}"].iloc[0]) for r in results} if len(total) else {},
            "severity_table": ctx.severity is not None}


def _aligned(preds: pd.DataFrame, images: pd.DataFrame) -> np.ndarray:
    """Probabilities in test-image order. Shapes: -> [N,14]."""
    return preds.set_index("image_id").reindex(images["image_id"])[list(LABELS)].to_numpy(np.float64)


def _write_counts(out: Path, image_ids: pd.Series, counts: dict[str, np.ndarray]) -> None:
    """``eval/image_counts.csv``: per model and test image with any count, the Table 2 and pointing counts
    (:data:`agcl.evaluation.paired.COUNTS`) that the paired bootstrap re-weights."""
    from agcl.evaluation.paired import COUNTS

    frames = []
    for name, c in counts.items():
        keep = c.any(axis=1)
        df = pd.DataFrame(c[keep], columns=list(COUNTS))
        df.insert(0, "image_id", image_ids.to_numpy()[keep])
        df.insert(0, "model", name)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    write_with_atomic(out / "image_counts.csv", lambda p: table.to_csv(p, index=False))


def _paired_section(ctx: RunContext, out: Path, test, names: list[str], scores: list[np.ndarray],
                    counts: list[np.ndarray], settings: dict) -> None:
    """``eval/paired.csv`` and a summary.md section: this run's model differences vs BSL and BSL+ with paired
    bootstrap CIs over test images (one training seed: ``eval.bootstrap`` resamples; 0 = off)."""
    from agcl.evaluation.readings import paired_table, readings

    n_boot = ctx.cfg.eval.bootstrap
    pairs = comparisons(names)
    if n_boot <= 0 or not pairs:
        return
    y = test.images[list(LABELS)].to_numpy()
    seed = ctx.cfg.runtime.seed
    table = paired_table(y, np.stack(scores)[:, None], np.stack(counts)[:, None], names, [seed], pairs, n_boot,
                         seed, {k: v for k, v in settings.items() if k not in ("bootstrap", "seed")})
    write_with_atomic(out / "paired.csv", lambda p: table.to_csv(p, index=False, float_format="%.6g"))
    md = ["", f"## Paired differences (one training seed, {seed}; bootstrap over {len(y)} test images, "
              f"{n_boot} resamples, 95 % CI)", "",
          "One seed: the intervals cover test-image sampling only, not training-seed variation; "
          "`agcl run --seeds` repeats the run over seeds.", "", *[f"- {line}" for line in readings(table)]]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    write_text_atomic(out / "summary.md", summary + "\n".join(md) + "\n")


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
    from agcl.evaluation.paired import COUNTS
    from agcl.evaluation.tables import markdown_table, paired_section

    n_boot, seed = ctx.cfg.eval.bootstrap, ctx.cfg.runtime.seed
    y = test.images[list(LABELS)].to_numpy()
    frames, wide, boot, scores = [], [], [], []
    for name, sdir in models:
        s = _aligned(read_predictions(sdir), test.images)
        samples = bootstrap_aucs(y, s, n_boot, seed) if n_boot > 0 else None
        table = auc_table(y, s, LABELS, n_boot=n_boot, seed=seed, samples=samples)
        frames.append(table.assign(model=name, source=Path(sdir).name))
        wide.append({"Model": name, **dict(zip(table["label"], table["auc"], strict=True))})
        boot.append((name, table, samples))
        scores.append(s)
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
    names = [n for n, _ in models]
    zero = [np.zeros((len(y), len(COUNTS)), np.int64)] * len(names)
    _paired_section(ctx, out, test, names, scores, zero, {"split": "test"})
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
