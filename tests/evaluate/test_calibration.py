"""Calibration split: by patient and seeded; settings chosen on the calibration part only, reported on box-test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.boxes.generators import BoxSettings, heatmaps_to_boxes
from agcl.errors import InputError
from agcl.evaluation.calibration import calibrate, read_calibration_file, split_box_images
from agcl.evaluation.localization import boxes_table
from agcl.evaluation.maxboxacc import best_iou_curves, gt_per_pair


def _box_images(n_patients=20):
    rng = np.random.default_rng(3)
    rows = [(f"p{p}_{k}.png", f"p{p}") for p in range(n_patients) for k in range(int(rng.integers(1, 4)))]
    return pd.DataFrame(rows, columns=["image_id", "patient_id"])


def test_split_is_by_patient_seeded_and_sized():
    imgs = _box_images()
    a, b = split_box_images(imgs, 0.2, seed=0), split_box_images(imgs, 0.2, seed=0)
    assert a.equals(b)
    assert not a.equals(split_box_images(imgs, 0.2, seed=1))
    assert (a.groupby("patient_id")["part"].nunique() == 1).all()  # no patient in both parts
    n_cal = int((a["part"] == "calibration").sum())
    assert abs(n_cal - 0.2 * len(imgs)) <= 2 and set(a["part"]) == {"calibration", "box_test"}


def test_calibration_file_is_validated(tmp_path):
    imgs = _box_images(4)
    f = tmp_path / "cal.csv"
    pd.DataFrame({"image_id": imgs.loc[imgs["patient_id"] == "p0", "image_id"]}).to_csv(f, index=False)
    split = read_calibration_file(f, imgs)
    assert set(split.loc[split["part"] == "calibration", "patient_id"]) == {"p0"}
    pd.DataFrame({"image_id": ["nope.png"]}).to_csv(f, index=False)
    with pytest.raises(InputError, match="not test images with boxes"):
        read_calibration_file(f, imgs)
    two = imgs.groupby("patient_id").filter(lambda g: len(g) > 1)
    pd.DataFrame({"image_id": [two["image_id"].iloc[0]]}).to_csv(f, index=False)
    with pytest.raises(InputError, match="both parts"):
        read_calibration_file(f, imgs)


def test_settings_are_chosen_on_the_calibration_part_only():
    # calibration image c1: a faint 8×8 region with a strong 2×2 block on the GT -> only a high
    # threshold finds the GT (IoBB of the 8×8 box in the 2×2 GT is 4/64).
    c1 = np.zeros((10, 10), np.float32)
    c1[0:8, 0:8] = 0.3
    c1[2:4, 2:4] = 1.0
    # box-test image t1: the GT is the faint region; the strong block lies outside it -> the fixed
    # cam20 setting (20 % of the max) hits, the calibrated high threshold misses.
    t1 = np.zeros((10, 10), np.float32)
    t1[0:8, 0:8] = 0.3
    t1[0:2, 9:10] = 1.0
    pairs = pd.DataFrame({"image_id": ["c1", "t1"], "label": ["Mass", "Mass"]})
    gt = pd.DataFrame({"image_id": ["c1", "t1"], "label": ["Mass", "Mass"], "x0": [20.0, 0], "y0": [20.0, 0],
                       "x1": [40.0, 80], "y1": [40.0, 80]})
    wh = pd.DataFrame({"width": [100.0, 100.0], "height": [100.0, 100.0]})
    maps = np.stack([c1, t1])
    best = best_iou_curves(maps, gt_per_pair(pairs, gt), [100, 100], [100, 100], size=10)
    parts = pd.Series({"c1": "calibration", "t1": "box_test"})
    base = BoxSettings(generator="cam20", upsample_size=10)
    cal = calibrate(maps, pairs, wh, gt, parts, ["Mass"], base, 0.25, "iobb", best, np.array([True, True]))
    assert (cal.grid["n_pairs"] == 1).all()  # only the calibration pair is scored
    fixed = cal.grid.iloc[0]
    assert fixed["setting"] == "fixed" and fixed["f1"] == 0.0
    chosen = cal.grid[cal.grid["selected"]].iloc[0]
    assert chosen["heatmap_threshold"] == 0.4 and chosen["upsample"] == "before" and chosen["f1"] == 1.0
    test = cal.box_test.set_index(["settings", "label"])
    assert test.loc[("fixed", "Total"), "recall"] == 1.0 and test.loc[("calibrated", "Total"), "recall"] == 0.0
    assert cal.info["n_pairs"] == {"calibration": 1, "box_test": 1}
    # MaxBoxAcc's τ is also taken on the calibration part: c1 needs τ >= 0.3 (normalised 0.3 region dropped)
    assert cal.info["maxboxacc_threshold_calibration"] == 0.3
    assert cal.info["boxacc_box_test_at_calibrated_threshold"] == 0.0


def test_given_fixed_boxes_give_the_same_calibration():
    # the main Table 2's boxes (all pairs, the fixed settings) stand in for recomputing them on box-test
    rng = np.random.default_rng(0)
    maps = rng.normal(0, 1, (6, 8, 8)).astype(np.float32)
    ids = ["c1", "c2", "t1", "t2", "t3", "t4"]
    pairs = pd.DataFrame({"image_id": ids, "label": ["Mass"] * 6})
    xy = np.sort(rng.uniform(0, 100, (6, 2, 2)), axis=1).reshape(6, 4)[:, [0, 2, 1, 3]]
    gt = pd.DataFrame({"image_id": ids, "label": ["Mass"] * 6, "x0": xy[:, 0], "y0": xy[:, 1], "x1": xy[:, 2],
                       "y1": xy[:, 3]})
    wh = pd.DataFrame({"width": [100.0] * 6, "height": [100.0] * 6})
    parts = pd.Series(dict(zip(ids, ["calibration"] * 2 + ["box_test"] * 4, strict=True)))
    best = best_iou_curves(maps, gt_per_pair(pairs, gt), [100] * 6, [100] * 6, size=16)
    base = BoxSettings(upsample_size=16)
    boxes = boxes_table(heatmaps_to_boxes(maps, 100.0, 100.0, base), pairs)
    args = (maps, pairs, wh, gt, parts, ["Mass"], base, 0.1, "iou", best, np.ones(6, bool))
    a, b = calibrate(*args), calibrate(*args, fixed_boxes=boxes)
    pd.testing.assert_frame_equal(a.grid, b.grid)
    pd.testing.assert_frame_equal(a.box_test, b.box_test)
    assert a.info == b.info and a.box_test["detected"].sum() > 0
