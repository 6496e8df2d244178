"""The seed ladder: does attention guidance reach the evaluated heatmaps, and how good must seeds be?
(results: docs/results.md, "Attention guidance that reaches the heatmaps").

Every rung trains the same two-path refinement (the pipeline's own ``agl`` stage, paper Eq. 2–4) from
the same BSL checkpoint, with the same epochs and data order, on one source of seeds, and is compared
with the matched control BSL+ (that training at λ = 0, no seeds):

- ``oracle``: truth boxes of severe and moderate training positives painted on the feature grid
  (``benchmarks/oracle_seeds.py``) — an upper bound, never a method;
- ``s1_severe``, ``s1_moderate``: the round-1 S1 seeds of that grade, maps from the binary curriculum
  networks (§2.3);
- ``s2``: the round-1 S2 seeds (binary network probability > t);
- ``agl``: the AGL seeds (the baseline's own CAMs of its high-scoring images).

Knobs are read on validation only (``val``: validation mean AUC and the pointing game against the
phantom's truth boxes of validation images); the test split is read once per run, by the run's own
evaluation stage, and ``report`` aggregates those with ``agcl compare`` (mean ± sd over training seeds,
paired bootstrap CIs against BSL and BSL+).

    B="env PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/seed_ladder.py"
    # data as for the premise study: D/phantom, D/severity.csv, D/index with one cache_<S>
    $B base D S --seeds 0 1 2 --config configs/demo.yaml           # BSL, BSL+, AGL and round-1 seeds
    $B seedq D S --seeds 0 1 2                                     # seed pointing vs BSL's CAM, same images
    $B rungs D S --seeds 0 1 2 --design separate tied [--rung oracle s2 ...] [--set refine.lam=0.005]
    $B val D S --seeds 0 1 2                                       # validation metrics of every finished rung
    $B report D S --seeds 0 1 2 --out S/ladder.md
    $B method D S --seeds 0 1 2 --design tied separate --config configs/demo.yaml --set model.head_bias=prior
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import premise_stats as st
import premise_study as ps

RUNGS = ("oracle", "s1_severe", "s1_moderate", "s2", "agl")
DESIGNS = ("separate", "tied")
#: Base stages the rungs share (design-independent: BSL and BSL+ never use the regression path).
SHARED = ("bsl", "bsl_plus")


def base_dir(study: Path, seed: int) -> Path:
    return study / "base" / f"seed_{seed}"


def rung_dir(study: Path, design: str, rung: str, seed: int, tag: str = "") -> Path:
    return study / (design + (f"-{tag}" if tag else "")) / rung / f"seed_{seed}"


def copy_finished(base: Path, run: Path, stages) -> None:
    """Copy finished stages of the base run into ``run`` (once; a stage already finished there is kept)."""
    for stage in stages:
        src, dst = base / f"stage_{stage}", run / f"stage_{stage}"
        if not (src / "DONE").is_file():
            raise SystemExit(f"error: {src} is not finished; run `base` first")
        if not (dst / "DONE").is_file():
            shutil.copytree(src, dst, dirs_exist_ok=True)


def run_base(data: Path, study: Path, seed: int, config: Path, sets: list[str]) -> float:
    """BSL, BSL+, the AGL seeds and the round-1 curriculum seeds of one training seed."""
    return ps.run_one(data, base_dir(study, seed), [*sets, f"runtime.seed={seed}", "refine.control=true",
                                                     "refine.agl=true"],
                      only=["bsl_plus", "seeds_agl", "seeds_r1"], config=config)


def _severity(data: Path) -> pd.DataFrame:
    from agcl.pipeline.context import load_severity

    return load_severity(data / "severity.csv", None)


def rung_seeds(data: Path, base: Path, rung: str) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """seeds.csv rows, their maps and a provenance record for one rung, from a finished base run."""
    from agcl.pipeline.seedmaps import read_seeds

    if rung == "agl":
        seeds, maps = read_seeds(base / "stage_seeds_agl")
        return seeds, maps, {"rung": rung, "source": "stage_seeds_agl"}
    if rung == "oracle":
        import oracle_seeds as orc
        import torch

        from agcl.models import build_model
        from agcl.pipeline.driver import load_pipeline_config, make_context

        ctx = make_context(load_pipeline_config(base / "config.yaml"), base)
        size = ctx.cfg.data.image_size
        net = build_model(ctx.model_spec("multilabel"), pretrained="none")
        with torch.no_grad():
            grid = tuple(net.forward_features(torch.zeros(1, 1, size, size)).shape[-2:])
        splits = ctx.images.set_index(ctx.images["image_id"].astype(str))["split"]
        seeds, maps, prov = orc.oracle_seeds(orc.read_lesions(data / "phantom" / "truth" / "lesions.csv"), splits,
                                             ctx.source_sizes, size, grid, ctx.feature_geometry())
        return seeds, maps, {"rung": rung, **prov}
    seeds, maps = read_seeds(base / "stage_seeds_r1")
    source = st.seed_sources(seeds, _severity(data))
    want = {"s1_severe": "S1 severe", "s1_moderate": "S1 moderate", "s2": "S2"}[rung]
    keep = (source == want).to_numpy()
    return seeds[keep].reset_index(drop=True), maps[keep], {"rung": rung, "source": f"stage_seeds_r1 ({want})"}


def write_rung_stage(out: Path, seeds: pd.DataFrame, maps: np.ndarray, provenance: dict, base_done: dict) -> None:
    """The rung's seeds as a finished seed stage (the stage the ``agl`` refinement reads)."""
    from agcl.io import write_json_atomic, write_with_atomic
    from agcl.labels import LABELS
    from agcl.pipeline.seedmaps import seed_counts, write_seeds
    from agcl.pipeline.stages import mark_done

    out.mkdir(parents=True, exist_ok=True)
    write_seeds(out, seeds, maps)
    counts = seed_counts(seeds, list(LABELS))  # the evaluation stage's seed sections read it
    write_with_atomic(out / "counts.csv", lambda p: counts.to_csv(p, index=False))
    write_json_atomic(out / "provenance.json", provenance)
    keep = {k: v for k, v in base_done.items() if k.endswith("fingerprint")}
    mark_done(out, {"seeds": int(len(seeds)), "rung": provenance["rung"], **keep})


def run_rung(data: Path, study: Path, design: str, rung: str, seed: int, sets: list[str], tag: str = "") -> float:
    """One refinement on one rung's seeds, beside BSL and BSL+ copied from the base run (eval included)."""
    base, run = base_dir(study, seed), rung_dir(study, design, rung, seed, tag)
    if (run / "eval" / "DONE").is_file():
        return 0.0
    copy_finished(base, run, SHARED)
    sdir = run / "stage_seeds_agl"
    if not (sdir / "DONE").is_file():
        seeds, maps, prov = rung_seeds(data, base, rung)
        write_rung_stage(sdir, seeds, maps, prov, json.loads((base / "stage_seeds_agl" / "DONE").read_text()))
    config = base / "config.yaml"
    return ps.run_one(data, run, [*sets, f"runtime.seed={seed}", "refine.rounds=0", "refine.agl=true",
                                  "refine.control=true", f"model.regression={design}"], config=config)


def run_method(data: Path, study: Path, design: str, seed: int, config: Path, sets: list[str]) -> float:
    """The whole method (AGL, AGCL-1..k, BSL+) for one design and training seed, in ``S/method-<design>``.

    The stages that do not depend on the design (BSL, BSL+, the AGL seeds, the round-1 curriculum and
    seeds) are copied from the base run of that seed, so both designs start from the same networks.
    """
    base, run = base_dir(study, seed), study / f"method-{design}" / f"seed_{seed}"
    copy_finished(base, run, (*SHARED, "seeds_agl", "curriculum_r1", "seeds_r1"))
    return ps.run_one(data, run, [*sets, f"runtime.seed={seed}", "refine.control=true", "refine.agl=true",
                                  f"model.regression={design}"], config=config)


# ---------------------------------------------------------------- validation (knobs are read here only)

def _val_truth(data: Path, ctx) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation images and their truth boxes of the box classes, for positives of that class."""
    from agcl.labels import BOX_LABELS
    from agcl.pipeline.context import load_truth

    val = ctx.split("val")
    truth = load_truth(data / "phantom" / "truth" / "lesions.csv")
    truth = truth[truth["image_id"].astype(str).isin(set(val["image_id"].astype(str)))
                  & truth["label"].isin(BOX_LABELS)]
    labels = val.set_index(val["image_id"].astype(str))
    pos = [bool(labels.loc[i, lab]) for i, lab in zip(truth["image_id"].astype(str), truth["label"], strict=True)]
    return val, truth[pos].reset_index(drop=True)


def val_metrics(data: Path, run: Path, stage: str) -> dict:
    """Validation mean AUC and pointing game (CAM argmax inside a truth box) of one finished stage."""
    from agcl.evaluation.paired import mean_auc
    from agcl.labels import BOX_LABELS, LABEL_INDEX, LABELS
    from agcl.pipeline.driver import load_pipeline_config, make_context
    from agcl.pipeline.inference import score_images

    ctx = make_context(load_pipeline_config(run / "config.yaml"), run)
    val, truth = _val_truth(data, ctx)
    model = ps.finished_model(run / f"stage_{stage}")
    ids, probs, cams = score_images(ctx, model, val, frame="image")
    pairs = truth[["image_id", "label"]].drop_duplicates().reset_index(drop=True)
    row = {iid: i for i, iid in enumerate(ids)}
    maps = np.stack([cams[row[i], LABEL_INDEX[lab]] for i, lab in zip(pairs["image_id"], pairs["label"],
                                                                       strict=True)]) if len(pairs) else np.zeros((0, 1, 1))
    w, h = ctx.source_sizes(pairs["image_id"])
    game = st.pointing_game(maps, pairs, truth, w, h, [lab for lab in LABELS if lab in BOX_LABELS])
    total = game.iloc[-1]
    return {"stage": stage, "val_auc": round(mean_auc(val[list(LABELS)].to_numpy(), probs), 4),
            "val_pointing": round(float(total["accuracy"]), 4), "val_pairs": int(total["n"]),
            "per_class": {r["label"]: round(float(r["accuracy"]), 4) for _, r in game.iloc[:-1].iterrows() if r["n"]}}


def run_val(data: Path, run: Path) -> dict:
    """``val_metrics.json`` of a rung run (BSL, BSL+ and the rung's refinement), computed once."""
    out = run / "val_metrics.json"
    if out.is_file():
        return json.loads(out.read_text())
    res = {s: val_metrics(data, run, s) for s in ("bsl", "bsl_plus", "agl") if (run / f"stage_{s}" / "DONE").is_file()}
    out.write_text(json.dumps(res, indent=1))
    return res


# ---------------------------------------------------------------- seed quality against BSL's own CAM

def _binary_model(label_dir: Path):
    """A disease's finished binary curriculum network (the one that scored its seeds), rebuilt on the CPU
    in eval mode."""
    from agcl.pipeline.binary import final_network
    from agcl.train.checkpoint import load_model

    return load_model(final_network(label_dir), device="cpu", kinds=("binary",)).model


def seed_vs_bsl(data: Path, base: Path) -> pd.DataFrame:
    """Per seed source: pointing of the seed maps and of BSL's CAM on the same (image, class) pairs of
    training images (truth boxes, diagnostics only), and the same comparison on validation positives
    between each binary curriculum network's CAM (minus its reference map when the run's
    ``seeds.reference`` is set, as the seed stage harvests it) and BSL's raw CAM."""
    import torch  # noqa: F401  (imported by the model code)

    from agcl.labels import LABEL_INDEX
    from agcl.pipeline.context import load_truth
    from agcl.pipeline.driver import load_pipeline_config, make_context
    from agcl.pipeline.harvest import reference_maps, reference_rows
    from agcl.pipeline.inference import score_images
    from agcl.pipeline.seedmaps import read_seeds

    ctx = make_context(load_pipeline_config(base / "config.yaml"), base)
    truth = load_truth(data / "phantom" / "truth" / "lesions.csv")
    bsl = ps.finished_model(base / "stage_bsl")
    severity = _severity(data)
    rows = []

    def game(maps, pairs, split_ids):
        w, h = ctx.source_sizes(pairs["image_id"])
        t = truth[truth["image_id"].astype(str).isin(split_ids)]
        g = st.pointing_game(maps, pairs.reset_index(drop=True), t, w, h, sorted(pairs["label"].unique()))
        return int(g.iloc[-1]["n"]), int(g.iloc[-1]["hits"])

    def bsl_maps(pairs):
        ids = sorted(set(pairs["image_id"].astype(str)))
        got, _, cams = score_images(ctx, bsl, ctx.images[ctx.images["image_id"].astype(str).isin(ids)], frame="image")
        at = {iid: i for i, iid in enumerate(got)}
        return np.stack([cams[at[i], LABEL_INDEX[lab]] for i, lab in zip(pairs["image_id"].astype(str), pairs["label"],
                                                                          strict=True)])

    geometry = ctx.feature_geometry()
    size = ctx.cfg.data.image_size
    from agcl.cam.align import align_to_image

    for stage in ("seeds_agl", "seeds_r1"):
        if not (base / f"stage_{stage}" / "DONE").is_file():
            continue
        seeds, maps = read_seeds(base / f"stage_{stage}")
        seeds = seeds.assign(image_id=seeds["image_id"].astype(str))
        framed = align_to_image(np.asarray(maps, np.float32), size, *geometry)
        source = st.seed_sources(seeds, severity)
        reference = bsl_maps(seeds[["image_id", "label"]])
        train_ids = set(seeds["image_id"])
        for src in sorted(source.unique()):
            m = (source == src).to_numpy()
            pairs = seeds.loc[m, ["image_id", "label"]]
            n, hits = game(framed[m], pairs, train_ids)
            _, bhits = game(reference[m], pairs, train_ids)
            rows.append({"where": "train seeds", "round": stage.removeprefix("stage_"), "source": src, "pairs": n,
                         "seed_pointing": hits / n if n else float("nan"),
                         "bsl_pointing": bhits / n if n else float("nan")})
    # validation: each binary network's CAM vs BSL's on validation positives with a truth box
    val = ctx.split("val")
    val_ids = set(val["image_id"].astype(str))
    vt = truth[truth["image_id"].astype(str).isin(val_ids)]
    cdir = base / "stage_curriculum_r1"
    reference = reference_rows(ctx)
    tot = {"n": 0, "bin": 0, "bsl": 0}
    for ldir in sorted(p for p in cdir.iterdir() if (p / "DONE").is_file() and (p / "train_cams.npy").is_file()) if cdir.is_dir() else []:
        label = ldir.name
        pos = val[val[label] == 1]
        ids = sorted(set(pos["image_id"].astype(str)) & set(vt.loc[vt["label"] == label, "image_id"].astype(str)))
        if not ids:
            continue
        net = _binary_model(ldir)
        got, _, cams = score_images(ctx, net, val[val["image_id"].astype(str).isin(ids)], frame="image")
        maps = cams[:, 0]
        if reference is not None:  # the map the seed stage would harvest (seeds.reference), in the image frame
            maps = maps - reference_maps(ctx, net, reference, frame="image")[0]
        pairs = pd.DataFrame({"image_id": got, "label": label})
        n, hits = game(maps, pairs, val_ids)
        _, bhits = game(bsl_maps(pairs), pairs, val_ids)
        tot["n"] += n
        tot["bin"] += hits
        tot["bsl"] += bhits
        rows.append({"where": "val positives", "round": "curriculum_r1", "source": label, "pairs": n,
                     "seed_pointing": hits / n, "bsl_pointing": bhits / n})
    if tot["n"]:
        rows.append({"where": "val positives", "round": "curriculum_r1", "source": "Total", "pairs": tot["n"],
                     "seed_pointing": tot["bin"] / tot["n"], "bsl_pointing": tot["bsl"] / tot["n"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- report

def report(data: Path, study: Path, seeds: list[int], tags: list[str], n_boot: int) -> dict:
    from agcl.pipeline.compare_runs import compare_runs

    out: dict = {"seeds": seeds, "rungs": []}
    for design_dir in sorted(d for d in study.iterdir() if d.is_dir() and d.name.split("-")[0] in DESIGNS):
        for rung in RUNGS:
            runs = [design_dir / rung / f"seed_{s}" for s in seeds]
            runs = [r for r in runs if (r / "eval" / "DONE").is_file()]
            if not runs:
                continue
            cmp = design_dir / rung / "compare"
            if not (cmp / "summary.json").is_file():
                compare_runs(runs, cmp, n_boot=n_boot, progress=False)
            over = pd.read_csv(cmp / "overview.csv")
            paired = pd.read_csv(cmp / "paired.csv") if (cmp / "paired.csv").is_file() else pd.DataFrame()
            vals = [run_val(data, r) for r in runs]
            rec = {"arm": design_dir.name, "rung": rung, "n_seeds": len(runs),
                   "seeds_per_run": [json.loads((r / "stage_seeds_agl" / "DONE").read_text()).get("seeds") for r in runs]}
            for stage, name in (("agl", "rung"), ("bsl_plus", "BSL+"), ("bsl", "BSL")):
                v = [x[stage] for x in vals if stage in x]
                rec[f"val_auc_{name}"] = float(np.mean([x["val_auc"] for x in v])) if v else None
                rec[f"val_pointing_{name}"] = float(np.mean([x["val_pointing"] for x in v])) if v else None
            rec["overview"] = over.to_dict(orient="records")
            if len(paired):
                rec["paired"] = paired[paired["model"] == "AGL"].to_dict(orient="records")
            out["rungs"].append(rec)
    return out


def markdown(res: dict) -> str:
    lines = [f"Seed ladder, training seeds {res['seeds']}; validation (knobs) then test (paired 95 % CI vs BSL+).", "",
             "| arm | rung | seeds/run | val AUC rung / BSL+ | val pointing rung / BSL+ / BSL | "
             "test Δ AUC vs BSL+ | Δ recall | Δ precision | Δ pointing |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rungs"]:
        cells = []
        for metric in ("auc", "recall", "precision", "pointing"):
            row = [p for p in r.get("paired", []) if p.get("reference") == "BSL+" and p.get("metric") == metric]
            cells.append(f"{row[0]['diff']:+.3f} [{row[0]['ci_low']:+.3f}, {row[0]['ci_high']:+.3f}]" if row else "–")
        seeds_n = "/".join(str(s) for s in r["seeds_per_run"])
        lines.append(f"| {r['arm']} | {r['rung']} | {seeds_n} | {r['val_auc_rung']:.3f} / {r['val_auc_BSL+']:.3f} | "
                     f"{r['val_pointing_rung']:.3f} / {r['val_pointing_BSL+']:.3f} / {r['val_pointing_BSL']:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("base", "rungs", "val", "seedq", "report", "method"):
        p = sub.add_parser(name)
        p.add_argument("data", type=Path)
        p.add_argument("study", type=Path)
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        p.add_argument("--config", type=Path, default=ps.CONFIG)
        p.add_argument("--set", dest="sets", action="append", default=[])
        p.add_argument("--design", nargs="+", default=list(DESIGNS), choices=DESIGNS)
        p.add_argument("--rung", nargs="+", default=list(RUNGS), choices=RUNGS)
        p.add_argument("--tag", default="", help="rungs: suffix of the arm folder (e.g. lam0.05)")
        p.add_argument("--n-boot", type=int, default=1000)
        p.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    if a.cmd == "base":
        for s in a.seeds:
            print(json.dumps({"base": str(base_dir(a.study, s)), "wall_s": run_base(a.data, a.study, s, a.config, a.sets)}),
                  flush=True)
    elif a.cmd == "rungs":
        for s in a.seeds:
            for d in a.design:
                for r in a.rung:
                    secs = run_rung(a.data, a.study, d, r, s, a.sets, a.tag)
                    print(json.dumps({"design": d, "rung": r, "seed": s, "tag": a.tag, "wall_s": secs}), flush=True)
    elif a.cmd == "method":
        for s in a.seeds:
            for d in a.design:
                secs = run_method(a.data, a.study, d, s, a.config, a.sets)
                print(json.dumps({"method": d, "seed": s, "wall_s": secs}), flush=True)
        print("compare with: agcl compare S/method-<design>/seed_<k>... --out S/method-<design>/compare")
    elif a.cmd == "val":
        for arm in sorted(d for d in a.study.iterdir() if d.is_dir() and d.name.split("-")[0] in DESIGNS):
            for r in RUNGS:
                for s in a.seeds:
                    run = arm / r / f"seed_{s}"
                    if (run / "eval" / "DONE").is_file():
                        print(json.dumps({"run": str(run), **{k: {kk: vv for kk, vv in v.items() if kk != "per_class"}
                                                              for k, v in run_val(a.data, run).items()}}), flush=True)
    elif a.cmd == "seedq":
        frames = [seed_vs_bsl(a.data, base_dir(a.study, s)).assign(seed=s) for s in a.seeds]
        q = pd.concat(frames, ignore_index=True)
        agg = (q.assign(sh=q["seed_pointing"] * q["pairs"], bh=q["bsl_pointing"] * q["pairs"])
               .groupby(["where", "round", "source"], sort=False)[["pairs", "sh", "bh"]].sum().reset_index())
        agg["seed_pointing"] = agg["sh"] / agg["pairs"]
        agg["bsl_pointing"] = agg["bh"] / agg["pairs"]
        agg["difference"] = agg["seed_pointing"] - agg["bsl_pointing"]
        agg = agg.drop(columns=["sh", "bh"])
        print(agg.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if a.out:
            q.to_csv(a.out, index=False)
    else:
        res = report(a.data, a.study, a.seeds, [], a.n_boot)
        ps.emit_report(markdown(res), res, a.out)


if __name__ == "__main__":
    sys.exit(main())
