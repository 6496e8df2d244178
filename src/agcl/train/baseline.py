"""The multi-label baseline (BSL, paper §2.1) as one call: index + cache → ``RUN/stage_bsl/checkpoint.pt``.

This is what ``agcl train`` runs (also under torchrun); the pipeline can reuse it for its ``bsl`` stage.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from agcl.config import TrainConfig, save_config, to_dict
from agcl.errors import ConfigError, InputError
from agcl.labels import NUM_LABELS
from agcl.train.device import RuntimeEnv, setup_runtime
from agcl.train.distributed import barrier
from agcl.train.loop import FitResult, fit
from agcl.train.metrics_log import truncate_stage_events

log = logging.getLogger(__name__)

STAGE = "bsl"


def baseline_spec(cfg: TrainConfig, image_size: int) -> dict:
    """Model spec of the multi-label network (14 sigmoid outputs on the configured backbone)."""
    return {"kind": "multilabel", "backbone": cfg.model.backbone, "num_classes": NUM_LABELS,
            "image_size": int(image_size), "pretrained": cfg.model.pretrained,
            "output_stride": cfg.model.output_stride}


def open_data(cfg: TrainConfig):
    """Load the index and the cache and build the train/val datasets (augmentation on train only).

    Returns:
        ``(train_ds, val_ds_or_None, cache)``.
    """
    from agcl.data.augment import AffineAugment
    from agcl.data.cache import ImageCache, default_cache_dir
    from agcl.data.dataset import CxrDataset
    from agcl.data.index import load_index

    if not cfg.data.index_dir:
        raise ConfigError("data.index_dir is not set; pass --set data.index_dir=DIR (written by `agcl index`)")
    index = load_index(cfg.data.index_dir)
    cache_dir = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir(cfg.data.index_dir,
                                                                                      cfg.data.image_size)
    cache = ImageCache.open(cache_dir, expect_size=cfg.data.image_size)
    train_df, val_df = index.split("train"), index.split("val")
    if len(train_df) == 0:
        raise InputError(f"index {cfg.data.index_dir} has no 'train' images")
    augment = AffineAugment(seed=cfg.runtime.seed) if cfg.data.augment == "light" else None
    train_ds = CxrDataset(train_df, cache, augment=augment)
    val_ds = CxrDataset(val_df, cache) if len(val_df) else None
    if val_ds is None:
        log.warning("index %s has no 'val' images: early stopping follows the training loss", cfg.data.index_dir)
    return train_ds, val_ds, cache


def train_baseline(cfg: TrainConfig, run_dir: str | os.PathLike[str], *, fresh: bool = False,
                   env: RuntimeEnv | None = None) -> FitResult | None:
    """Train BSL into ``run_dir/stage_bsl``; resumes a killed run, skips a finished one (None).

    Args:
        fresh: discard ``last.pt``/``checkpoint.pt`` of a previous run of this stage and start over.
    """
    from agcl.models import build_model
    from agcl.train.losses import masked_bce

    run = Path(run_dir)
    stage_dir = run / f"stage_{STAGE}"
    env = env or setup_runtime(cfg.runtime)
    main = env.dist.is_main
    done = stage_dir / "checkpoint.pt"
    if fresh and main:
        for name in ("last.pt", "best.pt", "checkpoint.pt"):
            (stage_dir / name).unlink(missing_ok=True)
        truncate_stage_events(run, STAGE, 0)
    barrier(env.dist)  # no rank may look for last.pt before rank 0 has removed it
    if not fresh and done.is_file() and not (stage_dir / "last.pt").is_file():
        log.info("stage %s already finished (%s); pass --fresh to retrain", STAGE, done)
        return None
    train_ds, val_ds, cache = open_data(cfg)
    if main:
        save_config(cfg, run / "config.yaml")
    spec = baseline_spec(cfg, cache.size)
    model = build_model(spec, seed=cfg.runtime.seed)

    def loss_fn(logits, batch):  # masked sigmoid CE over the 14 labels (§2.1)
        return masked_bce(logits, batch["labels"])

    log.info("training %s: %s on %d train / %d val images, device %s, amp %s, world size %d", STAGE,
             cfg.model.backbone, len(train_ds), len(val_ds) if val_ds else 0, env.device, env.amp_name,
             env.dist.world_size)
    return fit(model, loss_fn, train_ds, val_ds, stage=STAGE, optim=cfg.optim, runtime=cfg.runtime,
               batch_size=cfg.data.batch_size, eval_batch_size=cfg.data.eval_batch_size,
               num_workers=cfg.data.num_workers, stage_dir=stage_dir, run_dir=run, config=to_dict(cfg),
               model_spec=model.spec, env=env)
