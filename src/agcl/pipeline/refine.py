"""Stages ``agl`` and ``agcl_<k>``: attention-guided two-path training (paper §2.3, Eq. 2–4); and
``bsl_plus``, the matched control (the same training at λ = 0 without seeds).

A :class:`~agcl.models.TwoPathNet` is initialised from the baseline (backbone and classification FC;
``refine.init=previous`` starts from the previous round instead), and trained with
``Loss_cls + λ Σ_c 1_c Loss_reg`` where the seed maps reach the loss through the dataset's
``target``/``target_mask`` (min–max normalised seed CAMs, ``seeds.target_norm``). Validation images
have no seeds, so the validation loss (early stopping, best checkpoint) is the classification loss.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agcl.models import build_model
from agcl.pipeline.context import RunContext
from agcl.pipeline.inference import write_test_outputs
from agcl.pipeline.seedmaps import build_targets, read_seeds
from agcl.pipeline.training import TWO_PATH_METHOD, run_fit, stage_optim, transfer_weights, two_path_loss_fn

log = logging.getLogger(__name__)


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
    train = ctx.dataset(ctx.split("train"), train=True, targets=targets)
    val = ctx.dataset(ctx.split("val"))
    lam = cfg.refine.lam if seeds_dir is not None else 0.0
    summary = run_fit(ctx, model, two_path_loss_fn(lam), train, val, stage=name, stage_dir=sdir,
                      optim=stage_optim(cfg.optim, cfg.refine_train), train_method=TWO_PATH_METHOD)
    summary.update({"seeds": int(len(seeds)), "seed_images": len(targets), "init": str(init_ckpt.parent.name),
                    "lam": lam})
    summary.update(write_test_outputs(ctx, model, sdir))
    return summary
