"""Stage ``curriculum_r<k>``: one binary curriculum network per disease (paper §2.2).

For each disease c (``curriculum.labels``, default all 14) with enough training positives:

1. a :class:`~agcl.models.BinaryNet` (new 2-way FC, softmax CE) is initialised from the backbone of the
   round's source network (BSL for round 1, the previous two-path network after that);
2. it is fine-tuned on the cumulative severity stages of :mod:`agcl.pipeline.curriculum` with
   balanced, seeded "No Finding" negatives — ``schedule=epochs``: one fit whose data is
   ``stages[stage_at(epoch)]``; ``schedule=convergence``: one fit per stage, each stopping on its
   validation plateau and starting from the previous stage's best weights;
3. it scores the validation set used for its early stopping (positives of c + balanced No Finding
   negatives: ``val_scores.csv``, from which the seed stage picks t) and **every** training positive
   of c (``train_scores.csv`` with grade and probability, ``train_cams.npy`` with the raw
   positive-class CAM of Eq. 1). Test images are never scored here.

Per-disease outputs go to ``stage_curriculum_r<k>/<label>/`` with their own DONE marker, so a killed
stage resumes at the disease (and, through the loop's checkpoints, at the epoch) where it stopped.

Under torchrun (``curriculum.distribute``): ``ddp`` trains each network with every rank (DDP) and rank
0 writes its outputs; ``labels`` deals the diseases to the ranks, each rank trains its own networks as a
single process and writes their directories (their training events go to ``RUN/rank<r>/`` for ranks
> 0). docs/pipeline.md, "Under torchrun", says which is the default and why.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.io import atomic_path, write_json_atomic, write_with_atomic
from agcl.labels import LABEL_INDEX
from agcl.models import build_model
from agcl.pipeline.context import RunContext
from agcl.pipeline.curriculum import balanced_negatives, build_stages, positive_grades, stage_at
from agcl.pipeline.inference import score_images
from agcl.pipeline.stages import is_done, mark_done, read_done, run_unit
from agcl.pipeline.training import binary_loss, run_fit, stage_optim, transfer_weights
from agcl.train.device import RuntimeEnv
from agcl.train.distributed import DistInfo, barrier

log = logging.getLogger(__name__)


def final_network(ldir: Path) -> Path:
    """The checkpoint of a disease's finished binary network (the one that scored ``train_cams.npy``):
    ``fit/`` for ``schedule=epochs``, the last ``fit_s<k>/`` for ``convergence``. Not checked for existence
    (loading it names the file when it is missing)."""
    stages = sorted((p for p in ldir.glob("fit_s*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
    fit = ldir / "fit" if (ldir / "fit").is_dir() or not stages else stages[-1]
    return fit / "checkpoint.pt"


def label_seed(seed: int, label: str) -> int:
    """A per-disease seed that does not depend on which other diseases run."""
    return (int(seed) * 1_000_003 + zlib.crc32(label.encode())) % 2**31


def run_curriculum(ctx: RunContext, sdir: Path, source_ckpt: Path, round_: int) -> dict:
    """Train/score the binary networks of one round; returns per-disease summaries."""
    cfg = ctx.cfg
    if ctx.severity is None:
        log.warning("NO SEVERITY TABLE: the curriculum has no grades — every disease trains on all its "
                    "positives in one stage, S1 is empty, and AGCL degrades to AGL-like behaviour")
    labels = cfg.curriculum.label_list()
    env = ctx.env
    info = env.dist
    by_labels = info.enabled and cfg.curriculum.distribute == "labels"
    todo = labels[info.rank::info.world_size] if by_labels else labels
    alone = dataclasses.replace(env, dist=DistInfo()) if by_labels else env
    for i, label in enumerate(todo, 1):
        ldir = sdir / label
        if is_done(ldir):
            continue
        log.info("curriculum round %d: %s [%d/%d]", round_, label, i, len(todo))

        def work(label=label, ldir=ldir) -> dict:
            summary = {**_run_label(ctx, ldir, label, source_ckpt, round_, alone), **ctx.fingerprints()}
            if alone.dist.is_main:
                write_json_atomic(ldir / "summary.json", summary)
            return summary

        if by_labels:  # this rank owns the disease: it alone writes its directory and DONE
            ldir.mkdir(parents=True, exist_ok=True)
            mark_done(ldir, work())
        else:
            run_unit(ldir, work, info, collective=True)
    barrier(info)
    return {"labels": {label: read_done(sdir / label) for label in labels}}


def _run_label(ctx: RunContext, ldir: Path, label: str, source_ckpt: Path, round_: int, env: RuntimeEnv) -> dict:
    """Train and score the binary network of ``label`` with ``env`` (rank 0 of ``env`` writes the files)."""
    cfg, cc = ctx.cfg, ctx.cfg.curriculum
    c = LABEL_INDEX[label]
    seed = label_seed(cc.seed, label)
    train, val = ctx.split("train"), ctx.split("val")
    pos_all = train[train[label] == 1].sort_values("image_id")
    grades_all = positive_grades(pos_all["image_id"].astype(str).tolist(), ctx.severity, label)
    summary: dict = {"label": label, "round": round_, "train_positives": len(pos_all),
                     "grades": {g: int((grades_all == g).sum()) for g in ("severe", "moderate", "mild", "none")}}
    if len(pos_all) < cc.min_positives:
        log.warning("curriculum %s: only %d training positives (< curriculum.min_positives=%d): no binary "
                    "network, no S2 seeds for this disease", label, len(pos_all), cc.min_positives)
        summary["skipped"] = "too few positives"
        return summary
    train_pos = pos_all
    if cc.max_positives and len(pos_all) > cc.max_positives:  # speed knob: seeded subsample of positives
        keep = sorted(balanced_negatives(pos_all["image_id"].astype(str), cc.max_positives, seed + 1))
        train_pos = pos_all[pos_all["image_id"].astype(str).isin(keep)]
    grades = grades_all.loc[train_pos["image_id"].astype(str).tolist()]
    stages = build_stages(grades)
    if stages[0].grades == ("none",):
        log.warning("curriculum %s: no graded positive — training on all %d positives in one stage",
                    label, len(train_pos))
    else:
        log.info("curriculum %s: %s", label, ", ".join(f"{s.name}={len(s.positives)}" for s in stages))
    summary["stages"] = [{"grades": list(s.grades), "positives": len(s.positives)} for s in stages]

    negatives = train[train["no_finding"] == 1]["image_id"].astype(str).tolist()
    by_id = train.set_index(train["image_id"].astype(str))
    stage_rows = []
    for s in stages:
        neg = balanced_negatives(negatives, len(s.positives), seed)
        if len(neg) < len(s.positives):
            log.warning("curriculum %s: only %d No Finding negatives for %d positives", label, len(neg), len(s.positives))
        stage_rows.append(by_id.loc[sorted(list(s.positives) + neg)].reset_index(drop=True))
    val_pos = val[val[label] == 1]
    val_neg_ids = balanced_negatives(val[val["no_finding"] == 1]["image_id"].astype(str), len(val_pos), seed + 2)
    val_rows = pd.concat([val_pos, val[val["image_id"].astype(str).isin(val_neg_ids)]]).sort_values("image_id")

    model = build_model(ctx.model_spec("binary"), pretrained="none", seed=seed)
    transfer_weights(model, source_ckpt, include_fc=False)
    loss = binary_loss(c)
    val_ds = ctx.dataset(val_rows) if len(val_rows) else None
    lr = cc.lr or cfg.optim.lr
    bs = cc.batch_size or cfg.data.batch_size
    name = f"curriculum_r{round_}/{label}"
    rank = ctx.env.dist.rank
    where = {"env": env, "run_dir": ctx.run_dir / f"rank{rank}" if rank and not env.dist.enabled else ctx.run_dir}
    datasets = [ctx.dataset(r, train=True) for r in stage_rows]
    if cc.schedule == "epochs":
        n = len(datasets)
        total = n * cc.epochs_per_stage

        def data_at(epoch: int, _ds=datasets, _n=n):  # pure function of the epoch (§2.2 schedule)
            return _ds[stage_at(epoch, cc.epochs_per_stage, _n)]

        fit_summary = run_fit(ctx, model, loss, data_at, val_ds, stage=name, stage_dir=ldir / "fit", batch_size=bs,
                              optim=stage_optim(cfg.optim, None, max_epochs=total, patience=total, lr=lr), **where)
        summary["fit"] = fit_summary
    else:
        fits = []
        for k, ds in enumerate(datasets):
            fits.append(run_fit(ctx, model, loss, ds, val_ds, stage=f"{name}/s{k + 1}", stage_dir=ldir / f"fit_s{k + 1}",
                                batch_size=bs, optim=stage_optim(cfg.optim, None, max_epochs=cc.max_epochs_per_stage,
                                                                 patience=cc.patience, lr=lr), **where))
        summary["fit"] = fits

    # Scores for seed selection: validation (for t) and every training positive (for S2 + seed maps).
    if len(val_rows):
        ids, probs, _ = score_images(ctx, model, val_rows, with_cams=False, env=env)
        val_df = pd.DataFrame({"image_id": ids, "truth": val_rows[label].to_numpy().astype(int), "prob": probs[:, 0]})
    else:
        val_df = pd.DataFrame({"image_id": [], "truth": [], "prob": []})
    ids, probs, cams = score_images(ctx, model, pos_all, env=env)
    summary["val_images"] = len(val_df)
    if not env.dist.is_main:
        return summary
    write_with_atomic(ldir / "val_scores.csv", lambda p: val_df.to_csv(p, index=False))
    tr_df = pd.DataFrame({"image_id": ids, "grade": grades_all.loc[ids].to_numpy(), "prob": probs[:, 0]})
    write_with_atomic(ldir / "train_scores.csv", lambda p: tr_df.to_csv(p, index=False))
    with atomic_path(ldir / "train_cams.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, cams[:, 0].astype(np.float16))
    return summary
