"""Stages ``seeds_r<k>`` (AGCL) and ``seeds_agl`` (the AGL ablation): pick seeds and their maps (§2.3).

``seeds_r<k>`` reads the binary networks' scores of ``curriculum_r<k>``: for each disease, t is chosen
on that network's **validation** scores (:func:`agcl.pipeline.seeds.choose_threshold`), S1 = graded
severe/moderate positives, S2 = non-seed training positives with probability > t. Seeds accumulate
across rounds (a seed never leaves; :func:`agcl.pipeline.seeds.harvest`), and every seed's map is
refreshed from the newest binary network (Eq. 2 regresses "the seed attention map of the last
iteration"); a disease without a network this round keeps its previous maps.

``seeds_agl`` uses the baseline instead: t per disease on BSL's validation probabilities (positives of c
vs No Finding images), seeds = training positives of c with BSL probability > t, maps = BSL CAMs.

With ``seeds.reference = no_finding`` every seed map is its network's CAM minus that network's mean
CAM over a seeded sample of No Finding training images (:func:`reference_rows`, the same images for
every network of the run): the evidence the image adds to an average normal image
(docs/pipeline.md, "Seed reference"). Both stages then score those images; under torchrun every rank
takes part and rank 0 writes.

Both write seeds.csv, seed_maps.npy, provenance.json, counts.csv and (when truth exists)
diagnostics.csv; see docs/pipeline.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.errors import ConfigError, InputError
from agcl.evaluation.artifacts import read_npy, read_table
from agcl.io import write_json_atomic, write_with_atomic
from agcl.labels import LABEL_INDEX, LABELS
from agcl.pipeline import diagnostics
from agcl.pipeline.context import RunContext
from agcl.pipeline.seedmaps import read_seeds, seed_counts, write_seeds
from agcl.pipeline.seeds import SeedRule, choose_threshold, empty_seeds, harvest, select_s1, select_s2, union
from agcl.pipeline.stages import is_done

log = logging.getLogger(__name__)


def _rule(ctx: RunContext) -> SeedRule:
    s = ctx.cfg.seeds
    return SeedRule(s.rule, s.target, s.min_t)


def reference_rows(ctx: RunContext) -> pd.DataFrame | None:
    """The images seed maps are referenced to, or None when ``seeds.reference`` is ``none``: up to
    ``seeds.reference_images`` No Finding training images, a sample seeded by ``runtime.seed``, sorted
    by image_id.

    Raises:
        ConfigError: ``no_finding`` is asked for and the training split has no No Finding image.
    """
    s = ctx.cfg.seeds
    if s.reference == "none":
        return None
    train = ctx.split("train")
    normal = train[train["no_finding"] == 1].sort_values("image_id")
    if normal.empty:
        raise ConfigError("seeds.reference=no_finding needs No Finding training images, and the training split "
                          "has none; use seeds.reference=none")
    if len(normal) > s.reference_images:
        pick = np.random.default_rng(ctx.cfg.runtime.seed).choice(len(normal), s.reference_images, replace=False)
        normal = normal.iloc[np.sort(pick)]
    return normal.reset_index(drop=True)


def reference_maps(ctx: RunContext, model, rows: pd.DataFrame | None, frame: str = "features") -> np.ndarray | None:
    """Mean raw CAM of every channel ``model`` reports over ``rows`` (``frame`` as in
    :func:`agcl.pipeline.inference.score_images`; seed maps use the feature grid); None without rows.
    Every rank must call it under torchrun. Shapes: -> [K,h,w] float32."""
    from agcl.pipeline.inference import score_images

    if rows is None:
        return None
    _, _, cams = score_images(ctx, model, rows, frame=frame)
    return cams.mean(axis=0).astype(np.float32)


def run_seeds(ctx: RunContext, sdir: Path, curriculum_dir: Path, previous: Path | None, round_: int) -> dict:
    """AGCL seeds of round ``round_`` from the binary networks in ``curriculum_dir`` (every rank calls it;
    rank 0 writes)."""
    from agcl.pipeline.binary import final_network
    from agcl.train.checkpoint import load_model

    prev_seeds, prev_maps = read_seeds(previous) if previous is not None else (empty_seeds(), np.zeros((0, 1, 1)))
    rule = _rule(ctx)
    provenance: dict = {"round": round_, "source": str(curriculum_dir.name), "rule": rule.__dict__, "labels": {},
                        "reference": _reference_info(ctx)}
    ref_rows = reference_rows(ctx)
    new_frames, cams_by_label = [], {}
    prev_keys = set(zip(prev_seeds["image_id"].astype(str), prev_seeds["label"], strict=True))
    for label in LABELS:
        ldir = curriculum_dir / label
        if not is_done(ldir) or not (ldir / "train_scores.csv").is_file():
            continue
        val = read_table(ldir / "val_scores.csv", "validation scores", {"image_id": str})
        tr = read_table(ldir / "train_scores.csv", "training scores", {"image_id": str, "grade": str},
                        keep_default_na=False)
        cams = read_npy(ldir / "train_cams.npy", "training CAMs", ndim=3)
        if len(cams) != len(tr):
            raise InputError(f"{ldir / 'train_cams.npy'}: {len(cams)} maps for {len(tr)} rows of train_scores.csv")
        network = final_network(ldir)
        if ref_rows is not None:
            net = load_model(network, device="cpu", kinds=("binary",)).model  # score_images moves it
            cams = cams.astype(np.float32) - reference_maps(ctx, net, ref_rows)[0]
        cams_by_label[label] = (tr["image_id"].tolist(), cams)
        info: dict = {"network": str(network.parent.relative_to(curriculum_dir.parent))}
        frames = []
        if ctx.cfg.seeds.use_s1:
            frames.append(select_s1(tr.set_index("image_id")["grade"], label, round_))
        if len(val) and val["truth"].sum() > 0:
            t, tinfo = choose_threshold(val["prob"].to_numpy(), val["truth"].to_numpy(), rule)
            info.update(tinfo)
            if not tinfo["target_reached"]:
                log.warning("seeds %s: validation precision target %.2f not reached; using t=%.3f (max precision)",
                            label, rule.target, t)
            cand = tr[[(i, label) not in prev_keys for i in tr["image_id"]]]  # non-seed positives only
            frames.append(select_s2(cand["image_id"].tolist(), cand["prob"].to_numpy(), t, label, round_))
        else:
            log.warning("seeds %s: no validation positives, so no threshold t and no S2 seeds", label)
            info["t"] = None
        provenance["labels"][label] = info
        new_frames.append(union(*frames))
    if not ctx.env.dist.is_main:  # every rank scored its share of the reference images; rank 0 writes
        return {}
    new = union(*new_frames) if new_frames else empty_seeds()
    seeds = harvest(prev_seeds, new)
    maps = _maps_for(seeds, cams_by_label, prev_seeds, prev_maps)
    return _finish(ctx, sdir, seeds, maps, provenance)


def run_seeds_agl(ctx: RunContext, sdir: Path, bsl_ckpt: Path) -> dict:
    """AGL seeds: baseline probabilities and CAMs only (no curriculum, no severity)."""
    from agcl.pipeline.inference import score_images
    from agcl.train.checkpoint import load_model

    model = load_model(bsl_ckpt, device="cpu", kinds=("multilabel",)).model  # score_images moves it to the run's device
    rule = SeedRule(ctx.cfg.seeds.rule, ctx.cfg.seeds.target, ctx.cfg.seeds.agl_min_t)
    val, train = ctx.split("val"), ctx.split("train")
    _, vprobs, _ = score_images(ctx, model, val, with_cams=False)
    pos_rows = train[train[list(LABELS)].sum(axis=1) > 0].sort_values("image_id")
    ids, probs, cams = score_images(ctx, model, pos_rows)
    reference = reference_maps(ctx, model, reference_rows(ctx))
    if not ctx.env.dist.is_main:  # every rank scored its share of the batches; rank 0 selects and writes
        return {}
    if reference is not None:
        cams = cams - reference[None]
    provenance: dict = {"round": 0, "source": "bsl", "rule": rule.__dict__, "labels": {},
                        "reference": _reference_info(ctx)}
    frames, cams_by_label = [], {}
    nf = val["no_finding"].to_numpy() == 1
    for label in LABELS:
        c = LABEL_INDEX[label]
        vpos = val[label].to_numpy() == 1
        is_pos = pos_rows[label].to_numpy() == 1
        lab_ids = [i for i, p in zip(ids, is_pos, strict=True) if p]
        cams_by_label[label] = (lab_ids, cams[is_pos, c])
        if not vpos.any():
            provenance["labels"][label] = {"network": "bsl", "t": None}
            continue
        sel = vpos | nf
        t, info = choose_threshold(vprobs[sel, c], vpos[sel].astype(int), rule)
        provenance["labels"][label] = {"network": "bsl", **info}
        frames.append(select_s2(lab_ids, probs[is_pos, c], t, label, 1, rule="AGL"))
    seeds = union(*frames) if frames else empty_seeds()
    maps = _maps_for(seeds, cams_by_label, empty_seeds(), np.zeros((0, 1, 1)))
    return _finish(ctx, sdir, seeds, maps, provenance)


def _reference_info(ctx: RunContext) -> dict:
    s = ctx.cfg.seeds
    return {"kind": s.reference, **({"images": s.reference_images, "seed": ctx.cfg.runtime.seed}
                                    if s.reference != "none" else {})}


def _maps_for(seeds: pd.DataFrame, cams_by_label: dict, prev: pd.DataFrame, prev_maps: np.ndarray) -> np.ndarray:
    """The newest map of each seed: from this round's network of its disease, else its previous map."""
    prev_pos = {k: i for i, k in enumerate(zip(prev["image_id"].astype(str), prev["label"], strict=True))}
    lookup = {lab: {iid: j for j, iid in enumerate(ids)} for lab, (ids, _) in cams_by_label.items()}
    out = []
    for iid, lab in zip(seeds["image_id"].astype(str), seeds["label"], strict=True):
        if lab in lookup and iid in lookup[lab]:
            out.append(np.asarray(cams_by_label[lab][1][lookup[lab][iid]], np.float32))
        else:
            out.append(np.asarray(prev_maps[prev_pos[(iid, lab)]], np.float32))
    if not out:
        return np.zeros((0, 1, 1), np.float32)
    return np.stack(out)


def _finish(ctx: RunContext, sdir: Path, seeds: pd.DataFrame, maps: np.ndarray, provenance: dict) -> dict:
    write_seeds(sdir, seeds, maps)
    counts = seed_counts(seeds, list(LABELS))
    write_with_atomic(sdir / "counts.csv", lambda p: counts.to_csv(p, index=False))
    summary = {"seeds": int(len(seeds)), "per_label": dict(zip(counts["label"], counts["total"].astype(int), strict=True))}
    truth = ctx.truth
    if truth is not None and len(seeds):
        w, h = ctx.source_sizes(seeds["image_id"])
        scores = diagnostics.seed_box_iobb(seeds, maps, truth, w, h, ctx.cfg.data.image_size, ctx.feature_geometry())
        diag = diagnostics.summarise(seeds, scores, list(LABELS), ctx.cfg.eval.t)
        write_with_atomic(sdir / "diagnostics.csv", lambda p: diag.to_csv(p, index=False))
        scored = scores[~np.isnan(scores)]
        summary["diagnostics"] = {"with_truth": int(scored.size),
                                  "mean_iobb": float(scored.mean()) if scored.size else None,
                                  "hit_rate": float((scored > ctx.cfg.eval.t).mean()) if scored.size else None}
    else:
        log.info("seed diagnostics skipped: no truth boxes on training images")
    write_json_atomic(sdir / "provenance.json", provenance)
    log.info("seeds: %d in total (%s)", len(seeds),
             ", ".join(f"{k}={v}" for k, v in summary["per_label"].items() if v))
    return summary
