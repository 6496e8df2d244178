"""The premise study: does AGCL beat BSL when its seed attention maps localise? (results: docs/results.md)

Each step is resumable: a phantom/index/cache that exists is kept, ``agcl run`` resumes its run directory,
and a run whose ``eval/DONE`` exists is skipped. Statistics live in benchmarks/premise_stats.py.

    # 1. data: phantom -> mined severity -> index -> cache (the `agcl synth` options pass through)
    python benchmarks/premise_study.py prepare D --n 1500 --size 128 --lesion-contrast 0.5
    # 2. difficulty from BSL alone: validation mean AUC of `agcl run --only bsl`
    python benchmarks/premise_study.py bsl-val D S/cal-c0.5 --set model.backbone=efficientnet_lite0 ...
    # 3. all arms, per seed (S/ARM/seed<k>), plus the matched continued-training control (S/ARM/seed<k>-cont)
    python benchmarks/premise_study.py run D S --arm pre --seeds 0 1 2 --control --set ...
    # 4. tables (JSON + Markdown) of one arm
    python benchmarks/premise_study.py report D S --arm pre --seeds 0 1 2 --out S/pre.md

The control is the pipeline's own AGL stage at λ = 0 started from the same BSL checkpoint: the two-path
network trained with the classification loss only, for the refinement's epoch budget (refine_train.*) —
i.e. BSL trained for as many extra epochs as AGCL-k adds, with the same optimiser and data order.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import premise_stats as st

from agcl.evaluation import paired

AGCL = [str(Path(sys.executable).with_name("agcl"))]  # the console script of this venv
CONFIG = Path(__file__).with_suffix(".yaml")  # the study recipe (benchmarks/premise_study.yaml)
MODELS = ("BSL", "AGL", "AGCL-1", "AGCL-2")


def agcl(*args: str, log: Path | None = None) -> float:
    """Run one agcl command (output to ``log`` or stderr); return its wall time in seconds."""
    t0 = time.perf_counter()
    if log is None:
        subprocess.run([*AGCL, *args], check=True, stdout=sys.stderr)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            subprocess.run([*AGCL, *args], check=True, stdout=fh, stderr=subprocess.STDOUT)
    return round(time.perf_counter() - t0, 1)


def prepare(data: Path, n: int, size: int, seed: int, synth_opts: list[str]) -> None:
    agcl("synth", str(data / "phantom"), "--n", str(n), "--size", str(size), "--seed", str(seed), *synth_opts)
    derive(data, seed, size)


def derive(data: Path, seed: int, cache_size: int) -> None:
    """Mine ``data/phantom``'s reports, index it and build its image cache (each step kept if done)."""
    from agcl.pipeline.demo import ensure_cache, ensure_index, ensure_severity

    ensure_severity(data / "phantom", data / "severity.csv")
    ensure_cache(ensure_index(data / "phantom", data / "index", seed), cache_size, progress=False)


def data_sets(data: Path) -> list[str]:
    size = json.loads(next((data / "index").glob("cache_*/cache.json")).read_text())["size"]
    return [f"data.index_dir={(data / 'index').resolve()}", f"data.image_size={size}",
            f"source.severity={(data / 'severity.csv').resolve()}",
            f"source.truth_boxes={(data / 'phantom' / 'truth' / 'lesions.csv').resolve()}"]


def run_one(data: Path, run: Path, sets: list[str], only: list[str] = (), config: Path = CONFIG) -> float:
    if (run / "eval" / "DONE").is_file() or (only and all((run / f"stage_{o}" / "DONE").is_file() for o in only)):
        return 0.0
    args = ["run", "--config", str(config), "--run-dir", str(run), *[x for s in [*data_sets(data), *sets]
                                                                     for x in ("--set", s)]]
    return agcl(*args, *[x for o in only for x in ("--only", o)], log=run.parent / f"{run.name}.log")


def run_control(data: Path, run: Path, sets: list[str]) -> float:
    """The pipeline with k = 0 and λ = 0 (its AGL column is BSL+) from the finished BSL (and AGL seeds) of
    ``run``, copied so they are not computed twice."""
    cont = run.with_name(run.name + "-cont")
    for stage in ("bsl", "seeds_agl"):  # both depend on nothing the control changes (refine.*)
        if (run / f"stage_{stage}" / "DONE").is_file() and not (cont / f"stage_{stage}" / "DONE").is_file():
            shutil.copytree(run / f"stage_{stage}", cont / f"stage_{stage}", dirs_exist_ok=True)
    return run_one(data, cont, [*sets, "refine.lam=0", "refine.rounds=0"])


def finished_model(stage_dir: Path):
    """The network of a finished stage, rebuilt from its best checkpoint on the CPU (exits if unfinished)."""
    from agcl.train.checkpoint import load_model
    from agcl.train.loop import finished_checkpoint

    done = finished_checkpoint(stage_dir)
    if done is None:
        raise SystemExit(f"error: {stage_dir} is not finished")
    return load_model(done, device="cpu").model


def shortcut_auc(data: Path) -> dict:
    """Test mean AUC of a classifier that never sees a lesion: per class, a logistic regression on the
    phantom's recorded non-lesion cues (devices, markers, view, exposure; ``truth/shortcuts.csv`` and
    ``truth/images.csv``), fitted on the train+val split. How much of BSL's AUC the phantom allows without
    lesions."""
    from sklearn.linear_model import LogisticRegression

    from agcl.labels import LABELS

    images = pd.read_csv(data / "index" / "images.csv", dtype={"image_id": str})
    truth = pd.read_csv(data / "phantom" / "truth" / "images.csv", dtype={"image_id": str}).set_index("image_id")
    cues = pd.crosstab(*pd.read_csv(data / "phantom" / "truth" / "shortcuts.csv", dtype={"image_id": str}).T.values)
    x = cues.reindex(images["image_id"]).fillna(0).clip(upper=1)
    x["exposure"] = truth["exposure"].reindex(images["image_id"]).to_numpy()
    x["ap"] = (truth["view"].reindex(images["image_id"]) == "AP").astype(float).to_numpy()
    x = x.to_numpy(float)
    test = (images["split"] == "test").to_numpy()
    y = images[list(LABELS)].to_numpy()
    p = np.full(y[test].shape, 0.5)
    for k in range(len(LABELS)):
        if 0 < y[~test, k].sum() < (~test).sum():
            p[:, k] = LogisticRegression(max_iter=1000).fit(x[~test], y[~test, k]).predict_proba(x[test])[:, 1]
    return {"data": str(data), "cues": cues.columns.tolist() + ["exposure", "ap"], "n_test": int(test.sum()),
            "test_mean_auc": round(paired.mean_auc(y[test], p), 4)}


def bsl_val_scores(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """Validation labels and BSL probabilities of a finished run. Shapes: -> (y [N,14], p [N,14])."""
    from agcl.labels import LABELS
    from agcl.pipeline.driver import load_pipeline_config, make_context
    from agcl.pipeline.inference import score_images

    ctx = make_context(load_pipeline_config(run / "config.yaml"), run)
    model = finished_model(run / "stage_bsl")
    val = ctx.split("val")
    _, probs, _ = score_images(ctx, model, val, with_cams=False)
    return val[list(LABELS)].to_numpy(), probs


def bsl_val_auc(run: Path) -> dict:
    """Validation mean AUC of a finished BSL stage (the only number used to set the phantom's difficulty)."""
    y, probs = bsl_val_scores(run)
    done = json.loads((run / "stage_bsl" / "DONE").read_text())
    return {"run": str(run), "val_mean_auc": round(paired.mean_auc(y, probs), 4),
            "n_val": len(y), "epochs": done.get("epochs_run"), "seconds": done.get("seconds")}


STAGES = {"BSL": "bsl", "AGL": "agl", "AGCL-1": "agcl_1", "AGCL-2": "agcl_2", "AGCL-3": "agcl_3"}


def eval_dir(data: Path, run: Path) -> Path | None:
    """The run's own ``eval/``; for a run stopped early (``--only``), ``agcl evaluate`` of its finished model
    stages (same generator, T and scope defaults as the pipeline) into ``eval-partial/``; None if none finished."""
    if (run / "eval" / "DONE").is_file():
        return run / "eval"
    done = [(n, run / f"stage_{st_}") for n, st_ in STAGES.items() if (run / f"stage_{st_}" / "DONE").is_file()]
    if not done:
        return None
    out = run / "eval-partial"
    if not (out / "summary.json").is_file() or json.loads((out / "summary.json").read_text())["context"].get(
            "models") != ", ".join(n for n, _ in done):
        agcl("evaluate", str(data / "index"), *[x for n, d in done for x in ("--stage", str(d), "--name", n)],
             "--out", str(out), log=run / "eval-partial.log")
    return out


def rewrite_test_outputs(run: Path, stage: str) -> dict:
    """Re-write a finished model stage's predictions/heatmaps/boxes from its checkpoint with the current code
    (no training; e.g. after the heatmap frame changed while the stage was running)."""
    from agcl.pipeline.driver import load_pipeline_config, make_context
    from agcl.pipeline.inference import write_test_outputs

    ctx = make_context(load_pipeline_config(run / "config.yaml"), run)
    return write_test_outputs(ctx, finished_model(run / f"stage_{stage}"), run / f"stage_{stage}")


def load_run(run: Path, ev: Path, test, y: np.ndarray) -> dict:
    """Table 1/2 rows, predictions and per-image counts (Table 2 and pointing) of every model of one run."""
    from agcl.evaluation.artifacts import read_predictions
    from agcl.evaluation.core import select_maps
    from agcl.evaluation.inputs import load_stage
    from agcl.evaluation.localization import scope_pairs
    from agcl.labels import LABELS

    auc, loc = pd.read_csv(ev / "auc.csv"), pd.read_csv(ev / "localization.csv")
    ids = test.images["image_id"].astype(str).tolist()
    labels = [k for k in loc["label"].unique() if k != "Total"]
    out = {}
    for name in auc["model"].unique():
        if name not in STAGES:
            continue  # a control scored beside the models
        stage = STAGES[name]
        p = read_predictions(run / f"stage_{stage}").set_index("image_id").reindex(ids)[list(LABELS)].to_numpy()
        det = pd.read_csv(ev / f"boxes_{name}.csv", dtype={"image_id": str})
        pairs = scope_pairs(test.gt, str(loc["scope"].iloc[0]), labels)
        _, heat_ids, heat = load_stage(run / f"stage_{stage}", test, test.gt)
        counts = paired.image_counts(det, select_maps(heat_ids, heat, pairs), pairs, test, t=float(loc["t"].iloc[0]))
        row = totals(ev, name, auc, loc)
        total = loc[(loc["model"] == name) & (loc["label"] == "Total")].iloc[0]
        assert np.allclose(counts.sum(0)[:4], total[["gt", "gt_hit", "detected", "tp"]].to_numpy(int)), name
        out[name] = row | {"auc": paired.mean_auc(y, p) if np.isnan(row["auc"]) else row["auc"], "p": p,
                           "counts": counts}
    return out


def totals(ev: Path, name: str, auc: pd.DataFrame, loc: pd.DataFrame) -> dict:
    """Mean AUC (NaN if the evaluation has none), and the Total rows of Table 2 (recall, precision) and of
    the pointing game (hits / GT boxes over all classes) of one model of an evaluation."""
    total = loc[(loc["model"] == name) & (loc["label"] == "Total")].iloc[0]
    mean = auc[(auc["model"] == name) & (auc["label"] == "Mean")]
    pt = pd.read_csv(ev / "pointing.csv")
    point = pt[(pt["model"] == name) & (pt["label"] == "Total")].iloc[0]
    return {"auc": float(mean["auc"].iloc[0]) if len(mean) else float("nan"), "recall": float(total["recall"]),
            "precision": float(total["precision"]), "pointing": float(point["accuracy"])}


def controls(data: Path, study: Path, arm: str, seed: int) -> list[dict]:
    """Table 2 Total and pointing of the uniform and centre controls on this data's test split (the
    evaluation's own controls, scored beside seed ``seed``'s BSL with the pipeline's settings)."""
    run, out = study / arm / f"seed{seed}", study / arm / "controls"
    if not (run / "stage_bsl" / "DONE").is_file():
        return []
    if not (out / "summary.json").is_file():
        agcl("evaluate", str(data / "index"), "--stage", str(run / "stage_bsl"), "--name", "BSL",
             "--control", "uniform", "--control", "centre", "--out", str(out), log=study / arm / "controls.log")
    loc, auc = pd.read_csv(out / "localization.csv"), pd.read_csv(out / "auc.csv")
    return [{"model": name} | totals(out, name, auc, loc) for name in loc["model"].unique()]


def seed_tables(data: Path, run: Path, size: int) -> pd.DataFrame:
    from agcl.pipeline.context import load_severity, load_truth
    from agcl.pipeline.driver import load_pipeline_config, make_context

    images = pd.read_csv(data / "index" / "images.csv", dtype={"image_id": str})
    severity = load_severity(data / "severity.csv", set(images["image_id"]))
    truth = load_truth(data / "phantom" / "truth" / "lesions.csv")
    sizes = pd.read_csv(next((data / "index").glob("cache_*/manifest.csv")), dtype={"image_id": str})
    frames = []
    for sdir in sorted(d for d in run.glob("stage_seeds_*") if (d / "DONE").is_file()):
        seeds = pd.read_csv(sdir / "seeds.csv", dtype={"image_id": str})
        maps = np.load(sdir / "seed_maps.npy")
        geometry = make_context(load_pipeline_config(run / "config.yaml"), run).feature_geometry()
        q = st.seed_quality(seeds, maps, truth, sizes, severity, size, geometry)
        frames.append(q.assign(round=sdir.name.removeprefix("stage_seeds_")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def report(data: Path, study: Path, arm: str, seeds: list[int], n_boot: int, with_controls: bool = False) -> dict:
    from agcl.evaluation.inputs import load_test_set
    from agcl.labels import LABELS

    test = load_test_set(data / "index")
    y = test.images[list(LABELS)].to_numpy()
    size = json.loads(next((data / "index").glob("cache_*/cache.json")).read_text())["size"]
    runs, conts, seeds_q = {}, {}, []
    for s in seeds:
        run = study / arm / f"seed{s}"
        if (ev := eval_dir(data, run)) is not None:
            runs[s] = load_run(run, ev, test, y)
            seeds_q.append(seed_tables(data, run, size).assign(seed=s))
        cont = run.with_name(run.name + "-cont")
        if (cont / "eval" / "DONE").is_file():
            conts[s] = load_run(cont, cont / "eval", test, y)["AGL"]
    table = []
    for name in [*MODELS, "BSL+"]:
        src = conts if name == "BSL+" else {s: r[name] for s, r in runs.items() if name in r}
        if not src:
            continue
        row = {"model": name, "seeds": len(src)}
        for m in ("auc", "recall", "precision", "pointing"):
            row[m], row[f"{m}_sd"] = paired.mean_sd(v[m] for v in src.values())
        table.append(row)
    out = {"arm": arm, "seeds": sorted(runs), "table": table, "n_test": len(y), "n_test_boxes": len(test.gt)}
    last = [m for m in STAGES if m != "BSL" and runs and all(m in r for r in runs.values())]
    for a, key in (("BSL", "vs_bsl"), ("BSL+", "vs_bsl_cont")):
        b = last[-1] if last else None  # the last refinement every run reached (AGCL-2 when complete, else AGL)
        pairs = [(runs[s][a] if a != "BSL+" else conts[s], runs[s][b]) for s in runs
                 if b and (a != "BSL+" or s in conts)]
        if pairs:
            out[key] = {"a": a, "b": b} | paired.paired_bootstrap(
                y, [(pa["p"], pb["p"], pa["counts"], pb["counts"]) for pa, pb in pairs], n_boot=n_boot)
    if seeds_q:
        q = pd.concat(seeds_q, ignore_index=True)
        agg = q.groupby(["round", "source"], sort=False).apply(
            lambda g: pd.Series({"seeds": g["seeds"].sum() / g["seed"].nunique(),
                                 "mean_iobb": np.average(g["mean_iobb"].fillna(0), weights=g["with_truth"].clip(lower=1e-9)),
                                 "hit_rate": np.average(g["hit_rate"].fillna(0), weights=g["with_truth"].clip(lower=1e-9)),
                                 "pointing": np.average(g["pointing"].fillna(0), weights=g["with_truth"].clip(lower=1e-9))}),
            include_groups=False).reset_index()
        out["seed_quality"] = agg.to_dict(orient="records")
    if with_controls and runs:
        out["controls"] = controls(data, study, arm, min(runs))
    out["epochs"] = {s: {k: json.loads((study / arm / f"seed{s}" / f"stage_{k}" / "DONE").read_text()).get("epochs_run")
                         for k in ("bsl", "agl", "agcl_1", "agcl_2")
                         if (study / arm / f"seed{s}" / f"stage_{k}" / "DONE").is_file()} for s in runs}
    return out


def markdown(res: dict) -> str:
    lines = [f"### Arm `{res['arm']}` (seeds {res['seeds']}, {res['n_test']} test images, {res['n_test_boxes']} test boxes)",
             "", "| model | seeds | mean AUC | recall | precision | pointing |", "|---|---|---|---|---|---|"]
    for r in res["table"]:
        lines.append(f"| {r['model']} | {r['seeds']} | " + " | ".join(
            f"{r[m]:.4f} ± {r[m + '_sd']:.4f}" for m in ("auc", "recall", "precision", "pointing")) + " |")
    if res.get("controls"):
        lines += ["", "Controls on the same test images (one evaluation, beside the first seed's BSL):", "",
                  "| heatmaps | mean AUC | recall | precision | pointing |", "|---|---|---|---|---|"]
        lines += [f"| {c['model']} | {c['auc']:.4f} | {c['recall']:.4f} | {c['precision']:.4f} | {c['pointing']:.4f} |"
                  for c in res["controls"]]
    for key in ("vs_bsl", "vs_bsl_cont"):
        if key in res:
            b = res[key]
            title = f"{b['b']} − {b['a']}" + (" (BSL+ = BSL continued for the refinement's epochs, λ = 0)"
                                               if b["a"] == "BSL+" else "")
            lines += ["", f"{title}, mean over seeds, paired bootstrap 95 % CI ({b['n_boot']} test-image resamples):", "",
                      "| metric | mean Δ | 95 % CI | per seed |", "|---|---|---|---|"]
            for i, m in enumerate(("mean AUC", "recall", "precision", "pointing")):
                lines.append(f"| {m} | {b['point'][i]:+.4f} | [{b['lo'][i]:+.4f}, {b['hi'][i]:+.4f}] | "
                             + ", ".join(f"{d[i]:+.4f}" for d in b["per_seed"]) + " |")
    if "seed_quality" in res:
        lines += ["", "Seed quality (cam20 box of each seed map vs truth, training images; mean over seeds):", "",
                  "| round | source | seeds | mean IoBB | IoBB > 0.25 | pointing |", "|---|---|---|---|---|---|"]
        lines += [f"| {q['round']} | {q['source']} | {q['seeds']:.0f} | {q['mean_iobb']:.3f} | {q['hit_rate']:.3f} | {q['pointing']:.3f} |"
                  for q in res["seed_quality"]]
    return "\n".join(lines) + "\n"


def emit_report(md: str, res: dict, out: Path | None) -> None:
    """Print a study report; with ``out``, also write it there (markdown) and beside it as JSON."""
    print(md)
    if out:
        out.write_text(md)
        out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("data", type=Path)
    p.add_argument("--n", type=int, default=1500)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lesion-contrast", default="1.0")
    p.add_argument("--exposure-shortcut", default="1.0")
    p.add_argument("--profile", default="shortcuts", help="phantom profile (the study's phantom: shortcuts)")
    p = sub.add_parser("bsl-val")
    p.add_argument("data", type=Path)
    p.add_argument("run", type=Path)
    p.add_argument("--set", dest="sets", action="append", default=[])
    p = sub.add_parser("shortcut-auc", help="test AUC of a lesion-blind classifier on the phantom's recorded cues")
    p.add_argument("data", type=Path)
    p = sub.add_parser("rewrite-outputs")
    p.add_argument("run", type=Path)
    p.add_argument("--stage", default="bsl")
    for name in ("run", "report"):
        p = sub.add_parser(name)
        p.add_argument("data", type=Path)
        p.add_argument("study", type=Path)
        p.add_argument("--arm", required=True)
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        p.add_argument("--set", dest="sets", action="append", default=[])
        p.add_argument("--control", action="store_true", help="also the matched continued-training BSL (λ = 0)")
        p.add_argument("--n-boot", type=int, default=1000)
        p.add_argument("--only", action="append", default=[], help="run: stop once this stage is done (agcl run --only)")
        p.add_argument("--out", type=Path, default=None, help="Markdown file (JSON next to it)")
        p.add_argument("--controls", action="store_true", help="report: also score the uniform and centre controls")
    a = ap.parse_args()
    if a.cmd == "prepare":
        prepare(a.data, a.n, a.size, a.seed, ["--profile", a.profile, "--lesion-contrast", a.lesion_contrast,
                                              "--exposure-shortcut", a.exposure_shortcut])
    elif a.cmd == "bsl-val":
        secs = run_one(a.data, a.run, a.sets, only=["bsl"])
        print(json.dumps({**bsl_val_auc(a.run), "wall_s": secs}))
    elif a.cmd == "shortcut-auc":
        print(json.dumps(shortcut_auc(a.data)))
    elif a.cmd == "rewrite-outputs":
        print(json.dumps(rewrite_test_outputs(a.run, a.stage)))
    elif a.cmd == "run":
        for s in a.seeds:
            run = a.study / a.arm / f"seed{s}"
            secs = run_one(a.data, run, [*a.sets, f"runtime.seed={s}"], only=a.only)
            print(json.dumps({"run": str(run), "wall_s": secs}), flush=True)
            if a.control:
                print(json.dumps({"run": str(run) + "-cont", "wall_s": run_control(a.data, run, [*a.sets, f"runtime.seed={s}"])}),
                      flush=True)
    else:
        res = report(a.data, a.study, a.arm, a.seeds, a.n_boot, a.controls)
        emit_report(markdown(res), res, a.out)


if __name__ == "__main__":
    main()
