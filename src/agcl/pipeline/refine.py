"""Stages ``agl`` and ``agcl_<k>``: attention-guided two-path training (paper §2.3, Eq. 2–4); and
``bsl_plus``, the matched control (the same training at λ = 0 without seeds).

A :class:`~agcl.models.TwoPathNet` is initialised from the baseline (backbone and classification FC;
``refine.init=previous`` starts from the previous round instead), and trained with
``Loss_cls + λ' Σ_c 1_c Loss_reg`` (λ' = ``refine.lam``·``refine.lam_cells``/(h·w), the map-size-free
weight of :func:`agcl.train.losses.loss_weight`) where the seed maps reach the loss through the dataset's
``target``/``target_mask`` (min–max normalised seed CAMs, ``seeds.target_norm``). Validation images
have no seeds, so the validation loss (early stopping, best checkpoint) is the classification loss.

With ``model.regression: tied`` (Ĥ_c = a_c·CAM_c + b_c, :mod:`agcl.models.two_path`) a and b start
moment-matched to the seeds: the initial network's CAMs of up to :data:`TIED_INIT_IMAGES` seed images
(a seeded draw) give every class the mean and spread of its seed targets
(:func:`agcl.models.two_path.moment_matched_affine`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from agcl.models import build_model
from agcl.models.two_path import moment_matched_affine
from agcl.pipeline.context import RunContext
from agcl.pipeline.inference import score_images, write_test_outputs
from agcl.pipeline.seedmaps import build_targets, read_seeds
from agcl.pipeline.training import TWO_PATH_METHOD, run_fit, stage_optim, transfer_weights, two_path_loss_fn

log = logging.getLogger(__name__)

#: Seed images whose CAMs set the tied path's initial a and b (a seeded draw when there are more).
TIED_INIT_IMAGES = 256


def run_refine(ctx: RunContext, sdir: Path, name: str, seeds_dir: Path | None, init_ckpt: Path) -> dict:
    """Train one two-path network from the seeds in ``seeds_dir``; write its test outputs.

    ``seeds_dir=None`` trains the matched control BSL+: no seeds and λ = 0, everything else (start,
    epochs, optimiser, augmentation, data order) as for AGL/AGCL-k.
    """
    cfg = ctx.cfg
    seeds, targets = [], {}
    if seeds_dir is not None:
        seeds, maps = read_seeds(seeds_dir)
        targets = build_targets(seeds, maps, cfg.seeds.target_norm)
        if not targets:
            log.warning("%s: no seeds at all — the two-path network trains on the classification loss only", name)
    model = build_model(ctx.model_spec("two_path"), pretrained="none", seed=cfg.runtime.seed)
    transfer_weights(model, init_ckpt, include_fc=True)
    tied = init_tied(ctx, model, targets) if model.design == "tied" else {}
    train = ctx.dataset(ctx.split("train"), train=True, targets=targets)
    val = ctx.dataset(ctx.split("val"))
    lam = cfg.refine.lam if seeds_dir is not None else 0.0
    summary = run_fit(ctx, model, two_path_loss_fn(lam, cfg.refine.lam_cells), train, val, stage=name,
                      stage_dir=sdir, optim=stage_optim(cfg.optim, cfg.refine_train), train_method=TWO_PATH_METHOD)
    summary.update({"seeds": int(len(seeds)), "seed_images": len(targets), "init": str(init_ckpt.parent.name),
                    "lam": lam, "regression": model.design, **tied})
    summary.update(write_test_outputs(ctx, model, sdir))
    return summary


def init_tied(ctx: RunContext, model: torch.nn.Module, targets: dict) -> dict:
    """Moment-match the tied path's a and b to the seed targets (module docstring); returns a summary.

    Collective under torchrun (every rank scores the same images and sets the same values).
    """
    ids = sorted(targets)
    if not ids:  # BSL+ or no seeds: Ĥ stays the CAM (a = 1, b = 0); nothing regresses it
        return {"tied_init_images": 0}
    if len(ids) > TIED_INIT_IMAGES:
        pick = np.random.default_rng(ctx.cfg.runtime.seed).choice(len(ids), TIED_INIT_IMAGES, replace=False)
        ids = [ids[i] for i in sorted(pick)]
    rows = ctx.split("train")
    rows = rows[rows["image_id"].astype(str).isin(set(ids))]
    got, _, cams = score_images(ctx, model, rows)
    if not got:
        return {"tied_init_images": 0}
    target = np.stack([targets[i][0] for i in got])
    mask = np.stack([targets[i][1] for i in got])
    scale, shift = moment_matched_affine(cams, target, mask)
    model.regressor.set_affine(scale, shift)
    log.info("tied regression path: a, b moment-matched to the seed targets of %d image(s) "
             "(median a %.3g, median b %.3g)", len(got), float(np.median(scale)), float(np.median(shift)))
    return {"tied_init_images": len(got)}
