"""Score one model (a stage's predictions + heatmaps, or a control) on the test split: the pure core
behind ``agcl evaluate``. Tables of several models are combined by :mod:`agcl.evaluation.tables`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agcl.boxes.generators import heatmaps_to_boxes
from agcl.evaluation.auc import auc_table
from agcl.evaluation.bootstrap import bootstrap_aucs
from agcl.evaluation.calibration import Calibration, calibrate
from agcl.evaluation.localization import IOU_T, WANG_T, Table2, boxes_table, pointing_game, scope_pairs
from agcl.evaluation.maxboxacc import best_iou_curves, box_accuracy_curve, gt_per_pair, max_box_acc
from agcl.evaluation.settings import EvalSettings
from agcl.labels import BOX_LABELS, LABEL_INDEX, LABELS


@dataclass
class ModelResult:
    """Tables of one model. ``boxes``: image_id,label,x0,y0,x1,y1,score (original pixels);
    ``maxboxacc``/``curve``: :func:`agcl.evaluation.maxboxacc.max_box_acc` and its threshold curve."""

    name: str
    auc: pd.DataFrame
    localization: pd.DataFrame
    wang: pd.DataFrame
    iou: pd.DataFrame
    pointing: pd.DataFrame
    boxes: pd.DataFrame
    info: dict
    maxboxacc: pd.DataFrame
    curve: pd.DataFrame
    calibration: Calibration | None = None
    auc_samples: np.ndarray | None = None  # bootstrap AUCs [n_boot, K] (same resamples for every model)


def select_maps(ids: list[str], heatmaps: np.ndarray, pairs: pd.DataFrame) -> np.ndarray:
    """Gather the class map of each (image, label) pair. Shapes: heatmaps [N,14,h,w] -> [P,h,w] float32."""
    row = pd.Series(np.arange(len(ids)), index=ids)
    missing = ~pairs["image_id"].isin(row.index)
    if missing.any():
        raise KeyError(f"no heatmap for image {pairs.loc[missing, 'image_id'].iloc[0]!r}")
    r = row.loc[pairs["image_id"]].to_numpy()
    c = pairs["label"].map(LABEL_INDEX).to_numpy()
    return np.asarray(heatmaps[r, c], dtype=np.float32) if len(r) else np.zeros((0, *heatmaps.shape[2:]), np.float32)


def evaluate_model(name: str, test_images: pd.DataFrame, predictions: pd.DataFrame, heat_ids: list[str],
                   heatmaps: np.ndarray, gt: pd.DataFrame, sizes: pd.DataFrame,
                   settings: EvalSettings | None = None, box_labels=None,
                   progress: Callable[[int, int], None] | None = None, parts: pd.Series | None = None) -> ModelResult:
    """Table 1, Table 2, Wang's Acc/AFP, IoU accuracy, the pointing game and MaxBoxAcc/V2 for one model.

    Args:
        test_images: the test split: ``image_id`` + 14 label columns (0/1).
        predictions: ``image_id`` + 14 probability columns; must cover every test image.
        heat_ids, heatmaps: heatmap rows (must cover every image of the scope); raw CAMs [N,14,h,w].
        gt: test GT boxes ``image_id,label,x0,y0,x1,y1`` (original pixels).
        sizes: ``image_id, width, height`` (cache manifest) for every image of the scope.
        progress: optional ``callback(done, total)`` over the heatmaps turned into boxes.
        box_labels: classes of Table 2; default: the 8 ChestX-ray14 box classes plus any other class
            that has GT boxes, in canonical order.
        parts: optional ``part`` (calibration | box_test) per box image_id: adds the calibration result
            (:func:`agcl.evaluation.calibration.calibrate`); the main tables still use every box image.
    """
    settings = settings if settings is not None else EvalSettings()
    if box_labels is None:
        present = set(gt["label"])
        box_labels = [k for k in LABELS if k in BOX_LABELS or k in present]
    preds = predictions.set_index("image_id").reindex(test_images["image_id"])
    if preds[list(LABELS)].isna().any().any():
        missing = preds.index[preds[list(LABELS)].isna().any(axis=1)][0]
        raise KeyError(f"no prediction for test image {missing!r}")
    y, s = test_images[list(LABELS)].to_numpy(), preds[list(LABELS)].to_numpy()
    samples = bootstrap_aucs(y, s, settings.bootstrap, settings.seed) if settings.bootstrap > 0 else None
    auc = auc_table(y, s, LABELS, n_boot=settings.bootstrap, seed=settings.seed, samples=samples)
    pairs = scope_pairs(gt, settings.scope, box_labels, predictions, settings.threshold)
    maps = select_maps(heat_ids, heatmaps, pairs)
    wh = sizes.set_index("image_id").reindex(pairs["image_id"])
    if wh[["width", "height"]].isna().any().any():
        raise KeyError(f"no image size for {wh.index[wh['width'].isna()][0]!r}")
    det = heatmaps_to_boxes(maps, wh["width"].to_numpy(), wh["height"].to_numpy(), settings.boxes,
                            progress=None if progress is None else lambda done: progress(done, len(maps)))
    boxes = boxes_table(det, pairs)
    table2 = Table2(boxes, gt, pairs, box_labels)  # overlaps found once for Table 2, Acc/AFP and IoU accuracy
    loc = table2.table(settings.t, settings.criterion)
    wang = table2.sweep(WANG_T, "iobb")
    iou = table2.sweep(IOU_T, "iou")
    point = pointing_game(maps, pairs, gt, wh["width"].to_numpy(), wh["height"].to_numpy(), box_labels,
                          tolerance=settings.pointing_tolerance)
    with_gt = _with_gt(pairs, gt)
    best = best_iou_curves(maps[with_gt], gt_per_pair(pairs[with_gt], gt), wh["width"].to_numpy()[with_gt],
                           wh["height"].to_numpy()[with_gt])
    curve = box_accuracy_curve(best, pairs["label"].to_numpy()[with_gt], box_labels)
    info = {"n_test_images": int(len(test_images)), "n_box_images": int(gt["image_id"].nunique()),
            "n_pairs": int(len(pairs)), "heatmap_size": list(heatmaps.shape[2:])}
    cal = None
    if parts is not None:
        cal = calibrate(maps, pairs, wh.reset_index(), gt, parts, box_labels, settings.boxes, settings.t,
                        settings.criterion, best, with_gt, fixed_boxes=boxes)
    return ModelResult(name, auc, loc, wang, iou, point, boxes, info, max_box_acc(curve), curve, cal, samples)


def _with_gt(pairs: pd.DataFrame, gt: pd.DataFrame) -> np.ndarray:
    """Pairs with at least one GT box (MaxBoxAcc and the pointing game score only those). Shapes: -> [P] bool."""
    keys = pd.MultiIndex.from_frame(gt[["image_id", "label"]])
    return pd.MultiIndex.from_frame(pairs[["image_id", "label"]]).isin(keys)
