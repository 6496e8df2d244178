"""The multi-label baseline (BSL, paper §2.1): its network, its loss and its fit, in one place.

``agcl train`` (:func:`agcl.pipeline.baseline.train_baseline`, index + cache →
``RUN/stage_bsl/checkpoint.pt``, also under torchrun) and the pipeline's ``bsl`` stage
(:func:`agcl.pipeline.baseline.run_baseline`) both train it through :func:`fit_baseline`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agcl.config import OptimConfig, TrainConfig, to_dict
from agcl.errors import ConfigError, InputError
from agcl.labels import NUM_LABELS
from agcl.train.device import RuntimeEnv
from agcl.train.loop import FitOptions, FitResult, fit_or_load
from agcl.train.losses import masked_bce
from agcl.train.sampling import LoaderOptions

log = logging.getLogger(__name__)

STAGE = "bsl"


def baseline_spec(cfg: TrainConfig, image_size: int) -> dict:
    """Model spec of the multi-label network (14 sigmoid outputs on the configured backbone)."""
    return {"kind": "multilabel", "backbone": cfg.model.backbone, "num_classes": NUM_LABELS,
            "image_size": int(image_size), "pretrained": cfg.model.pretrained,
            "output_stride": cfg.model.output_stride}


def baseline_loss(logits: Any, batch: Any) -> dict:
    """Masked multi-label sigmoid cross-entropy over the 14 labels (§2.1)."""
    return masked_bce(logits, batch["labels"])


def fit_baseline(cfg: TrainConfig, train_ds, val_ds, *, stage_dir: Path, run_dir: Path, env: RuntimeEnv,
                 image_size: int, optim: OptimConfig | None = None,
                 config: dict | None = None) -> tuple[nn.Module, FitResult]:
    """Build the baseline network and train it into ``stage_dir`` (resuming; a finished fit is loaded).

    Args:
        optim: the optimiser settings (default ``cfg.optim``; the pipeline applies its ``baseline`` overrides).
        config: the resolved config stored in the checkpoints (default ``cfg`` as a dict).

    Returns:
        ``(model, result)``: the network with the best weights loaded.
    """
    from agcl.models import build_model

    model = build_model(baseline_spec(cfg, image_size), seed=cfg.runtime.seed)
    if cfg.model.head_bias == "prior":  # a resumed or finished fit loads its own weights over this
        model.set_prior_bias(train_ds.labels)
    log.info("training %s: %s on %d train / %d val images, device %s, amp %s, world size %d", STAGE,
             cfg.model.backbone, len(train_ds), len(val_ds) if val_ds else 0, env.device, env.amp_name,
             env.dist.world_size)
    opts = FitOptions(stage=STAGE, optim=optim or cfg.optim, runtime=cfg.runtime, batch_size=cfg.data.batch_size,
                      eval_batch_size=cfg.data.eval_batch_size, loader=LoaderOptions.from_config(cfg.data),
                      stage_dir=stage_dir, run_dir=run_dir, config=config or to_dict(cfg), model_spec=model.spec)
    return model, fit_or_load(model, baseline_loss, train_ds, val_ds, opts, env=env)


def open_data(cfg: TrainConfig, device: torch.device | None = None):
    """Load the index and the cache and build the train/val datasets (augmentation on train only).

    ``device``: the training device (``data.augment_device: auto``; default ``runtime.device`` resolved).

    Returns:
        ``(train_ds, val_ds_or_None, cache)``.
    """
    from agcl.data.cache import ImageCache, default_cache_dir
    from agcl.data.index import load_index
    from agcl.train.data import stage_dataset

    if not cfg.data.index_dir:
        raise ConfigError("data.index_dir is not set; pass --set data.index_dir=DIR (written by `agcl index`)")
    index = load_index(cfg.data.index_dir)
    cache_dir = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir(cfg.data.index_dir,
                                                                                      cfg.data.image_size)
    cache = ImageCache.open(cache_dir, expect_size=cfg.data.image_size, expect_index=index)
    train_df, val_df = index.split("train"), index.split("val")
    if len(train_df) == 0:
        raise InputError(f"index {cfg.data.index_dir} has no 'train' images")
    train_ds = stage_dataset(train_df, cache, cfg, train=True, device=device)
    val_ds = stage_dataset(val_df, cache, cfg, device=device) if len(val_df) else None
    if val_ds is None:
        log.warning("index %s has no 'val' images: early stopping follows the training loss", cfg.data.index_dir)
    return train_ds, val_ds, cache
