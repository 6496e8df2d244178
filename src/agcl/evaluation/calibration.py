"""Calibration split of the box images: choose generator settings on a held-out part, report on the rest.

Choe et al. (CVPR 2020) ask that every setting of a localization method be chosen on a small held-out
set with boxes, never on the test boxes. On NIH every box lies in the test split, so the box images are
carved, **by patient** and seeded, into a ``calibration`` part and a ``box_test`` part
(:func:`split_box_images`, or a user's list via :func:`read_calibration_file`). On the calibration part
only, :func:`calibrate` scores a grid of generator settings (heatmap threshold × upsampling order) by
the F1 of Table 2's Total recall and precision at the run's T and criterion, and the MaxBoxAcc
threshold τ; the chosen settings and τ are then applied once to the box-test part, beside the paper's
fixed settings on the same images. T itself is not selected: every count of Table 2 is monotone in T,
so "choosing" T would only pick the smallest candidate; Wang's sweep reports all T instead.
See docs/evaluation.md ("Calibration split").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.boxes.generators import UPSAMPLE, BoxSettings, heatmaps_to_boxes, heatmaps_to_boxes_many
from agcl.data.index import carve_val_by_patient
from agcl.errors import InputError
from agcl.evaluation.localization import TOTAL_ROW, boxes_table, localization_table
from agcl.evaluation.maxboxacc import box_accuracy_curve

PARTS = ("calibration", "box_test")
#: Candidate heatmap thresholds, as fractions of the normalised map (wang2017: one level ×255; cam20: the fraction).
THRESHOLD_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def split_box_images(box_images: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Carve box images into calibration / box-test parts by patient (whole patients, seeded).

    The calibration part holds whole patients whose image count is closest to ``fraction`` of the box
    images (:func:`agcl.data.index.carve_val_by_patient`, the rule of the index's val split).

    Shapes: box_images ``image_id, patient_id`` (one row per image) -> same rows + ``part``.
    """
    out = box_images[["image_id", "patient_id"]].drop_duplicates("image_id").reset_index(drop=True)
    calib = carve_val_by_patient(out["patient_id"].astype(str), round(fraction * len(out)), seed)
    return out.assign(part=np.where(calib, PARTS[0], PARTS[1]))


def read_calibration_file(path: Path, box_images: pd.DataFrame) -> pd.DataFrame:
    """A user's calibration list: a CSV with an ``image_id`` column; the other box images are box-test.

    Raises:
        InputError: missing file/column, an id that is not a test box image, or a patient in both parts.
    """
    from agcl.evaluation.artifacts import read_table

    if not os.path.lexists(path):
        raise InputError(f"calibration file not found: {path}")
    ids = read_table(Path(path), "calibration", {"image_id": str})
    if "image_id" not in ids.columns:
        raise InputError(f"{path}: missing column 'image_id'")
    out = box_images[["image_id", "patient_id"]].drop_duplicates("image_id").reset_index(drop=True)
    unknown = sorted(set(ids["image_id"]) - set(out["image_id"]))
    if unknown:
        raise InputError(f"{path}: {len(unknown)} id(s) are not test images with boxes, e.g. {unknown[0]!r}")
    out["part"] = np.where(out["image_id"].isin(ids["image_id"]), PARTS[0], PARTS[1])
    mixed = out.groupby("patient_id")["part"].nunique()
    if (mixed > 1).any():
        raise InputError(f"{path}: patient {mixed.index[mixed > 1][0]!r} has images in both parts")
    return out


def candidates(base: BoxSettings) -> list[tuple[float | None, BoxSettings]]:
    """The paper's fixed settings (threshold ``None``) and the threshold × upsampling grid of its generator."""
    grid: list[tuple[float | None, BoxSettings]] = [(None, base)]
    for f in THRESHOLD_GRID:
        for up in UPSAMPLE:
            level = {"wang_thresholds": (round(255 * f, 1),)} if base.generator == "wang2017" else {"cam_fraction": f}
            grid.append((f, replace(base, upsample=up, **level)))
    return grid


@dataclass
class Calibration:
    """Outcome for one model: ``grid`` (every candidate on the calibration part, ``selected`` marked),
    ``box_test`` (Table 2 on the box-test part at the fixed and at the selected settings), ``info``."""

    grid: pd.DataFrame
    box_test: pd.DataFrame
    info: dict


def _f1(total: pd.Series) -> float:
    r, p = total["recall"], total["precision"]
    return float(2 * r * p / (r + p)) if r + p > 0 else 0.0


def calibrate(maps: np.ndarray, pairs: pd.DataFrame, wh: pd.DataFrame, gt: pd.DataFrame, parts: pd.Series,
              labels, base: BoxSettings, t: float, criterion: str, best_iou: dict[str, np.ndarray],
              with_gt: np.ndarray, fixed_boxes: pd.DataFrame | None = None) -> Calibration:
    """Select generator settings and the MaxBoxAcc τ on the calibration part; apply them to box-test.

    Args:
        maps, pairs, wh: class map, (image_id, label) and original size of every evaluated pair.
        gt: test GT boxes. parts: ``part`` per image_id (from :func:`split_box_images`).
        base: the fixed (paper's) settings. t, criterion: Table 2's match rule.
        best_iou, with_gt: :func:`agcl.evaluation.maxboxacc.best_iou_curves` of the pairs that have GT
            boxes, and the mask of those pairs.
        fixed_boxes: the boxes of ``base`` for (at least) every box-test pair, when already computed
            (the main Table 2's); detections of other pairs are ignored.

    The candidates are scored from one upsampling and labelling of the calibration maps
    (:func:`agcl.boxes.generators.heatmaps_to_boxes_many`).

    Shapes: maps [P,h,w]; pairs/wh P rows.
    """
    part = pairs["image_id"].map(parts).to_numpy()
    widths, heights = wh["width"].to_numpy(), wh["height"].to_numpy()
    rows = []
    cal = part == PARTS[0]
    gt_cal = gt[gt["image_id"].map(parts) == PARTS[0]]
    grid_settings = candidates(base)
    found = heatmaps_to_boxes_many(maps[cal], widths[cal], heights[cal], [st for _, st in grid_settings])
    for i, ((f, st), det) in enumerate(zip(grid_settings, found, strict=True)):
        tab = localization_table(boxes_table(det, pairs[cal]), gt_cal, pairs[cal], labels, t, criterion)
        total = tab.set_index("label").loc[TOTAL_ROW]
        rows.append({"candidate": i, "setting": "fixed" if f is None else "grid", "heatmap_threshold": f,
                     **st.describe(), "recall": total["recall"], "precision": total["precision"], "f1": _f1(total),
                     "n_pairs": int(cal.sum())})
    grid = pd.DataFrame(rows)
    pick = int(grid["f1"].to_numpy().argmax())  # first best; the fixed settings come first
    grid["selected"] = grid["candidate"] == pick
    chosen = grid_settings[pick][1]
    test = part == PARTS[1]
    gt_test = gt[gt["image_id"].map(parts) == PARTS[1]]
    if fixed_boxes is None:
        fixed_boxes = boxes_table(heatmaps_to_boxes(maps[test], widths[test], heights[test], base), pairs[test])
    frames = []
    for name, st in (("fixed", base), ("calibrated", chosen)):
        det = fixed_boxes if pick == 0 or name == "fixed" else \
            boxes_table(heatmaps_to_boxes(maps[test], widths[test], heights[test], st), pairs[test])
        tab = localization_table(det, gt_test, pairs[test], labels, t, criterion)  # boxes outside the part drop out
        frames.append(tab.assign(settings=name, generator=st.generator, upsample=st.upsample,
                                 heatmap_threshold=grid.loc[pick, "heatmap_threshold"] if name == "calibrated" else None))
    lab = pairs["label"].to_numpy()[with_gt]
    pp = part[with_gt]
    cal_curve = box_accuracy_curve({k: v[pp == PARTS[0]] for k, v in best_iou.items()}, lab[pp == PARTS[0]], [])
    v1 = cal_curve[(cal_curve["boxes"] == "largest") & np.isclose(cal_curve["iou"], 0.5)]
    tau = float(v1["threshold"].iloc[int(np.nanargmax(v1["acc"].to_numpy()))]) if not v1["acc"].isna().all() else None
    info = {"selected": {k: (None if isinstance(v, float) and np.isnan(v) else v)
                         for k, v in grid.loc[pick].to_dict().items() if k not in ("candidate", "selected")},
            "n_pairs": {"calibration": int(cal.sum()), "box_test": int(test.sum())},
            "maxboxacc_threshold_calibration": tau}
    if tau is not None:
        j = int(np.argmin(np.abs(np.asarray(v1["threshold"]) - tau)))
        info["boxacc_box_test_at_calibrated_threshold"] = float((best_iou["largest"][pp == PARTS[1], j] >= 0.5).mean()) \
            if (pp == PARTS[1]).any() else None
    return Calibration(grid, pd.concat(frames, ignore_index=True), info)
