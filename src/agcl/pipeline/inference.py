"""Batched inference for the stages (probabilities + exact CAMs) and the test outputs of a model stage.

Under torchrun the batches are dealt round-robin to the ranks and gathered back in order, so every
rank gets the arrays one process would compute (the same batches, hence bit-identical numbers); rank
0 alone writes files.

A model stage (bsl, agl, agcl_k) writes, for the **test** split: ``predictions.csv`` (every test
image), ``heatmaps.npy`` + ``heatmaps_ids.csv`` (raw CAMs in the image frame — see
:mod:`agcl.cam.align` — of the test images that carry ground-truth boxes: the localization set; zero
rows when the dataset has no boxes) and ``boxes.csv`` (boxes of the
evaluated (image, class) pairs, original pixels, from :mod:`agcl.boxes`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from agcl.labels import LABEL_INDEX, LABELS
from agcl.models import forward_with_cams
from agcl.pipeline.context import RunContext
from agcl.train.device import RuntimeEnv
from agcl.train.distributed import gather_objects

log = logging.getLogger(__name__)


def score_images(ctx: RunContext, model: torch.nn.Module, rows: pd.DataFrame, *,
                 cam_channels: Sequence[int] | None = None, with_cams: bool = True,
                 env: RuntimeEnv | None = None, frame: str = "features") -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Probabilities and raw CAMs of ``model`` on the images of ``rows`` (no augmentation).

    Args:
        rows: images.csv rows to run on (any split — the caller decides; selection code passes val/train).
        cam_channels: keep only these CAM channels (default: all the model reports).
        env: the runtime (default ``ctx.env``); under torchrun every rank of ``env`` must call this.
        frame: ``"features"`` (seed maps, regression targets: the Eq. 1 CAM on the feature grid) or
            ``"image"`` (what ``heatmaps.npy`` stores), as in :func:`agcl.models.forward_with_cams`.

    Returns:
        ``(image_ids, probs, cams)``. Shapes: probs [N,K] float32; cams [N,K',h,w] float32 or None.
    """
    from agcl.data.dataset import CxrDataset

    ids = rows["image_id"].astype(str).tolist()
    if not ids:
        return ids, np.zeros((0, 1), np.float32), None
    env = env or ctx.env
    bs = ctx.cfg.data.eval_batch_size or 2 * ctx.cfg.data.batch_size
    batches = [list(range(i, min(i + bs, len(ids)))) for i in range(0, len(ids), bs)]
    mine = list(enumerate(batches))[env.dist.rank::env.dist.world_size]
    loader = DataLoader(CxrDataset(rows, ctx.cache), batch_sampler=[b for _, b in mine],
                        num_workers=ctx.cfg.data.num_workers)
    model.to(env.device).eval()
    parts = []
    for (k, _), batch in zip(mine, loader, strict=True):
        p, c = forward_with_cams(model, batch["image"].to(env.device), autocast=env.amp_dtype is not None,
                                 frame=frame)
        if with_cams:
            c = c if cam_channels is None else c[:, list(cam_channels)]
            c = c.cpu().numpy().astype(np.float32)
        parts.append((k, p.cpu().numpy(), c if with_cams else None))
    parts = sorted(gather_objects(parts, env.dist), key=lambda part: part[0])
    probs = np.concatenate([p for _, p, _ in parts])
    return ids, probs, (np.concatenate([c for _, _, c in parts]) if with_cams else None)


def write_test_outputs(ctx: RunContext, model: torch.nn.Module, out_dir: Path) -> dict:
    """predictions.csv, heatmaps.npy and boxes.csv of a multi-label/two-path model on the test split."""
    from agcl.boxes import BoxSettings, heatmaps_to_boxes
    from agcl.evaluation.artifacts import write_boxes, write_heatmaps, write_predictions
    from agcl.evaluation.localization import scope_pairs

    main = ctx.env.dist.is_main
    test = ctx.split("test")
    ids, probs, _ = score_images(ctx, model, test, with_cams=False)
    if main:
        write_predictions(out_dir, ids, probs)
    gt = ctx.index.boxes
    gt = gt[gt["image_id"].astype(str).isin(set(ids))] if gt is not None else None
    n_boxes = 0
    if gt is not None and len(gt):
        box_ids = sorted(set(gt["image_id"].astype(str)))
        rows = test[test["image_id"].astype(str).isin(box_ids)]
        hids, _, cams = score_images(ctx, model, rows, frame="image")
        if not main:  # boxes are computed and written by rank 0
            return {}
        write_heatmaps(out_dir, hids, cams)
        pred_df = pd.DataFrame(probs, columns=list(LABELS)).assign(image_id=ids)
        pairs = scope_pairs(gt, ctx.cfg.eval.scope, labels=sorted(set(gt["label"]), key=LABEL_INDEX.get),
                            predictions=pred_df)
        pos = {h: i for i, h in enumerate(hids)}
        sel_img = np.array([pos[i] for i in pairs["image_id"].astype(str)], dtype=np.int64)
        sel_cls = np.array([LABEL_INDEX[c] for c in pairs["label"]], dtype=np.int64)
        maps = cams[sel_img, sel_cls] if len(pairs) else np.zeros((0,) + cams.shape[2:], np.float32)
        w, h = ctx.source_sizes(pairs["image_id"])
        det = heatmaps_to_boxes(maps, w, h, BoxSettings(generator=ctx.cfg.eval.generator,
                                                        upsample_size=ctx.cfg.data.image_size))
        boxes = pd.DataFrame(det.boxes, columns=["x0", "y0", "x1", "y1"])
        boxes.insert(0, "label", pairs["label"].to_numpy()[det.map_index])
        boxes.insert(0, "image_id", pairs["image_id"].astype(str).to_numpy()[det.map_index])
        boxes["score"] = det.scores
        n_boxes = len(boxes)
    else:
        log.info("no ground-truth boxes on the test split: localization is not evaluated (empty heatmaps/boxes)")
        _, _, one = score_images(ctx, model, test.iloc[:1])
        if not main:
            return {}
        write_heatmaps(out_dir, [], np.zeros((0, *one.shape[1:]), np.float32))
        boxes = pd.DataFrame(columns=["image_id", "label", "x0", "y0", "x1", "y1", "score"])
    write_boxes(out_dir / "boxes.csv", boxes)
    # DONE also records the index and cache fingerprints (driver._timed): `agcl evaluate` refuses these
    # outputs once the index changes
    return {"test_images": len(ids), "boxes": n_boxes, **ctx.fingerprints()}
