"""MaxBoxAcc / MaxBoxAccV2 on hand-computed maps, including the per-image-versus-global-threshold trap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.evaluation.maxboxacc import best_iou_curves, box_accuracy_curve, gt_per_pair, max_box_acc


def _nested() -> np.ndarray:
    """10×10: 1.0 on rows/cols 2..3, 0.5 on the rest of rows/cols 0..5, 0 elsewhere."""
    m = np.zeros((10, 10), np.float32)
    m[0:6, 0:6] = 0.5
    m[2:4, 2:4] = 1.0
    return m


def test_global_threshold_not_per_image():
    # Same map twice. Image A's GT is the inner 2×2 block (found only at τ >= 0.5); image B's GT is the
    # 6×6 block (found only at τ < 0.5). A threshold per image would score both: 1.0. One global τ: 0.5.
    maps = np.stack([_nested(), _nested()])
    gts = [np.array([[20.0, 20, 40, 40]]), np.array([[0.0, 0, 60, 60]])]  # original 100×100 = 10× the grid
    best = best_iou_curves(maps, gts, [100, 100], [100, 100], size=10)
    taus = np.round(np.arange(0, 1, 0.01), 2)
    assert np.allclose(best["largest"][0], np.where(taus >= 0.5, 1.0, 4 / 36))
    assert np.allclose(best["largest"][1], np.where(taus >= 0.5, 4 / 36, 1.0))
    assert (best["largest"].max(axis=1) >= 0.5).all()  # the per-image oracle: 2/2
    curve = box_accuracy_curve(best, ["Mass", "Mass"], ["Mass"])
    table = max_box_acc(curve).set_index("label")
    assert table.loc["Mass", "maxboxacc"] == 0.5 and table.loc["Total", "maxboxacc"] == 0.5
    assert table.loc["Mass", "maxboxacc_threshold"] == 0.0  # first τ of the tie
    # as two classes, each class gets its own global τ (1.0 each), while Total keeps one τ for all pairs
    table = max_box_acc(box_accuracy_curve(best, ["Mass", "Nodule"], ["Mass", "Nodule"])).set_index("label")
    assert table.loc["Mass", "maxboxacc"] == 1.0 and table.loc["Nodule", "maxboxacc"] == 1.0
    assert table.loc["Mass", "maxboxacc_threshold"] == 0.5 and table.loc["Nodule", "maxboxacc_threshold"] == 0.0
    assert table.loc["Total", "maxboxacc"] == 0.5


def test_v2_uses_all_contours_and_averages_iou():
    m = np.zeros((10, 10), np.float32)
    m[0:5, 0:5] = 1.0  # large blob, away from the GT
    m[7:9, 7:9] = 1.0  # small blob on the GT
    half = np.zeros((10, 10), np.float32)
    half[0:4, 0:4] = 1.0  # box [0,0,4,4] vs GT [0,0,4,8]: IoU exactly 0.5
    gts = [np.array([[7.0, 7, 9, 9]]), np.array([[0.0, 0, 4, 8]])]
    best = best_iou_curves(np.stack([m, half]), gts, [10, 10], [10, 10], size=10)
    assert np.allclose(best["largest"][0], 0.0) and np.allclose(best["all"][0], 1.0)
    assert np.allclose(best["largest"][1], 0.5) and np.allclose(best["all"][1], 0.5)
    table = max_box_acc(box_accuracy_curve(best, ["Mass", "Nodule"], ["Mass", "Nodule"])).set_index("label")
    assert table.loc["Mass", "maxboxacc"] == 0.0 and table.loc["Mass", "maxboxacc_v2"] == 1.0
    assert table.loc["Nodule", "maxboxacc"] == 1.0  # IoU >= 0.5 (inclusive, as Choe et al.)
    assert table.loc["Nodule", "maxboxacc_v2"] == pytest.approx(2 / 3)  # hits at 0.3 and 0.5, not 0.7
    assert table.loc["Total", "v2_iou30"] == 1.0 and table.loc["Total", "v2_iou70"] == 0.5


def test_constant_map_never_hits_and_upsampling_keeps_frame():
    flat = np.ones((4, 4), np.float32)
    coarse = np.zeros((4, 4), np.float32)
    coarse[1:3, 1:3] = 1.0  # cells cover pixels 25..75 of a 100-px image
    gts = [np.array([[0.0, 0, 100, 100]]), np.array([[25.0, 25, 75, 75]])]
    best = best_iou_curves(np.stack([flat, coarse]), gts, [100, 100], [100, 100], size=64)
    assert (best["all"][0] == 0).all()
    # bilinear upsampling blurs the block symmetrically: the box stays centred on the GT
    assert best["largest"][1].max() > 0.9


def test_gt_per_pair_groups_boxes():
    gt = pd.DataFrame({"image_id": ["a", "a", "b"], "label": ["Mass", "Mass", "Nodule"],
                       "x0": [0, 5, 1], "y0": [0, 5, 1], "x1": [1, 6, 2], "y1": [1, 6, 2]})
    pairs = pd.DataFrame({"image_id": ["a", "b", "b"], "label": ["Mass", "Nodule", "Mass"]})
    got = gt_per_pair(pairs, gt)
    assert [len(g) for g in got] == [2, 1, 0]
