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


def _reference_curves(maps, gt_boxes, widths, heights, thresholds, size):
    """Reference: label every map at every τ on its own (the definition, one ndimage.label per map and τ)."""
    import torch
    import torch.nn.functional as F
    from scipy import ndimage

    from agcl.cam.normalize import minmax_normalize

    up = F.interpolate(torch.from_numpy(np.asarray(maps, np.float32))[:, None], size=(size, size), mode="bilinear",
                       align_corners=False)[:, 0].numpy()
    norm = minmax_normalize(up)
    out = {k: np.zeros((len(maps), len(thresholds))) for k in ("largest", "all")}
    for i, (m, g) in enumerate(zip(norm, gt_boxes, strict=True)):
        for j, tau in enumerate(np.asarray(thresholds, np.float32)):
            labels, n = ndimage.label(m > tau, structure=np.ones((3, 3)))
            if n == 0:
                continue
            sizes = np.bincount(labels.ravel())[1:]
            ious = []
            for sl in ndimage.find_objects(labels):
                scale = np.array([widths[i] / size, heights[i] / size] * 2)
                box = np.array([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop], float) * scale
                iw = np.clip(np.minimum(box[2], g[:, 2]) - np.maximum(box[0], g[:, 0]), 0, None)
                ih = np.clip(np.minimum(box[3], g[:, 3]) - np.maximum(box[1], g[:, 1]), 0, None)
                inter = iw * ih
                union = (box[2] - box[0]) * (box[3] - box[1]) + (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) - inter
                ious.append(np.where(union > 0, inter / np.where(union > 0, union, 1), 0).max())
            out["all"][i, j] = max(ious)
            out["largest"][i, j] = ious[int(np.argmax(sizes))]  # first label (raster order) on ties
    return out


def test_curves_equal_labelling_every_threshold():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:8, 0:8] + 0.5
    maps = rng.normal(0, 0.2, (12, 8, 8)).astype(np.float32)
    for m in maps[:8]:
        m += np.exp(-((yy - rng.uniform(0, 8)) ** 2 + (xx - rng.uniform(0, 8)) ** 2) / 4)
    maps[8] = 0  # constant
    maps[9] = np.kron(np.eye(4), np.ones((2, 2)))  # equal blocks: equal-size components tie
    maps[10] = (rng.random((8, 8)) > 0.5)  # plateaus
    gts = [np.sort(rng.uniform(0, 90, (rng.integers(1, 4), 2, 2)), axis=1).reshape(-1, 4)[:, [0, 2, 1, 3]] for _ in maps]
    for thresholds, size in ((np.round(np.arange(0, 1, 0.01), 2), 24), ((0.5, 0.0, 0.5, 0.9, 0.25), 17)):
        got = best_iou_curves(maps, gts, [90] * 12, [80] * 12, thresholds=thresholds, size=size, chunk=5)
        ref = _reference_curves(maps, gts, [90] * 12, [80] * 12, thresholds, size)
        for kind in ("largest", "all"):
            np.testing.assert_array_equal(got[kind], ref[kind])
        assert got["all"].max() > 0.3


def test_only_flat_maps_give_zero_curves():
    """A chunk in which no map has any component (all flat) gives zero curves, not an indexing error."""
    flat = np.ones((3, 4, 4), np.float32)
    gts = [np.array([[0.0, 0, 50, 50]])] * 3
    best = best_iou_curves(flat, gts, [100] * 3, [100] * 3, size=32)
    assert best["largest"].shape == (3, len(best["largest"][0])) and not best["largest"].any() and not best["all"].any()
