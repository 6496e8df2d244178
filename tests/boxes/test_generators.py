"""Heatmap → boxes: synthetic blobs with known boxes (both generators, options), real GT boxes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.boxes.generators import BoxSettings, heatmap_to_boxes, heatmaps_to_boxes
from agcl.evaluation.localization import localization_table, scope_pairs
from agcl.labels import BOX_LABELS, canonical_label


def _two_blobs():
    h = np.zeros((16, 16), np.float32)
    h[2:5, 3:7] = 1.0  # strong blob
    h[10:14, 10:12] = 0.5  # weak blob (normalised 127.5: above 60, below 180; 0.5 >= 0.2)
    return h


def test_wang2017_after_gives_exact_component_boxes():
    h = _two_blobs()
    before = h.copy()
    boxes, scores = heatmap_to_boxes(h, "wang2017", upsample="after", width=160, height=320)
    # threshold 60: both blobs; threshold 180: the strong blob only. Boxes scaled x10 / x20.
    expected = [[30, 40, 70, 100], [100, 200, 120, 280], [30, 40, 70, 100]]
    np.testing.assert_allclose(boxes, expected)
    np.testing.assert_allclose(scores, [1.0, 0.5, 1.0])
    assert np.array_equal(h, before)


def test_cam20_keeps_largest_component():
    h = _two_blobs()  # weak blob has 8 px, strong 12 px
    boxes, scores = heatmap_to_boxes(h, "cam20", upsample="after")
    np.testing.assert_allclose(boxes, [[3, 2, 7, 5]])
    h[10:16, 8:16] = 0.5  # now the weak blob is the largest (48 px)
    boxes, _ = heatmap_to_boxes(h, "cam20", upsample="after")
    np.testing.assert_allclose(boxes, [[8, 10, 16, 16]])


def test_connectivity_option():
    h = np.zeros((8, 8))
    h[1, 1] = h[2, 2] = 1.0  # diagonal neighbours
    assert len(heatmap_to_boxes(h, "wang2017", upsample="after", connectivity=8)[0]) == 2  # 60 and 180
    assert len(heatmap_to_boxes(h, "wang2017", upsample="after", connectivity=4)[0]) == 4


def test_upsample_before_contains_blob_and_is_frame_consistent():
    h = np.zeros((16, 16))
    h[4:8, 4:8] = 1.0
    boxes, _ = heatmap_to_boxes(h, "cam20", upsample_size=256, width=1024, height=1024)
    (x0, y0, x1, y1), = boxes
    # blob spans [256, 512) in original pixels; bilinear smoothing widens it by less than one cell (64 px)
    assert 192 < x0 <= 256 and 512 <= x1 < 576 and 192 < y0 <= 256 and 512 <= y1 < 576


def test_constant_and_negative_maps_give_no_boxes():
    assert len(heatmap_to_boxes(np.full((8, 8), 3.0), "cam20")[0]) == 0
    assert len(heatmap_to_boxes(-np.ones((8, 8)), "cam20", normalization="max")[0]) == 0


def test_batched_equals_single_and_settings_validation():
    rng = np.random.default_rng(0)
    maps = rng.random((5, 8, 8)).astype(np.float32)
    det = heatmaps_to_boxes(maps, 64, 64, BoxSettings(generator="wang2017", upsample_size=32), chunk=2)
    for m in range(5):
        b, s = heatmap_to_boxes(maps[m], "wang2017", upsample_size=32, width=64, height=64)
        np.testing.assert_allclose(det.boxes[det.map_index == m], b)
        np.testing.assert_allclose(det.scores[det.map_index == m], s)
    with pytest.raises(ValueError, match="generator"):
        BoxSettings(generator="cam30")


@pytest.mark.realdata
def test_real_bbox_list_painted_maps_recall_precision_one(nih_dir):
    raw = pd.read_csv(nih_dir / "BBox_List_2017.csv", header=None, skiprows=1, usecols=range(6),
                      names=["image_id", "label", "x", "y", "w", "h"])
    gt = pd.DataFrame({"image_id": raw["image_id"], "label": [canonical_label(v) for v in raw["label"]],
                       "x0": raw["x"], "y0": raw["y"], "x1": raw["x"] + raw["w"], "y1": raw["y"] + raw["h"]})
    assert len(gt) == 984 and gt["image_id"].nunique() == 880
    grid, side = 128, 1024.0  # BBox_List frame is 1024x1024; paint on a 128 grid (8 px cells)
    maps = np.zeros((len(gt), grid, grid), np.float32)
    cells = gt[["x0", "y0", "x1", "y1"]].to_numpy() * grid / side
    lo, hi = np.floor(cells[:, :2]).astype(int), np.ceil(cells[:, 2:]).astype(int)
    for i in range(len(gt)):  # one painted map per GT box
        maps[i, lo[i, 1]:hi[i, 1], lo[i, 0]:hi[i, 0]] = 1.0
    det = heatmaps_to_boxes(maps, side, side, BoxSettings(generator="cam20", upsample="after"))
    assert np.array_equal(det.map_index, np.arange(len(gt)))
    boxes = pd.DataFrame(det.boxes, columns=["x0", "y0", "x1", "y1"])
    boxes.insert(0, "label", gt["label"].to_numpy())
    boxes.insert(0, "image_id", gt["image_id"].to_numpy())
    table = localization_table(boxes, gt, scope_pairs(gt), BOX_LABELS).set_index("label")
    assert table.loc["Total", "gt"] == 984 and table.loc["Total", "detected"] == 984
    assert (table["recall"] == 1.0).all() and (table["precision"] == 1.0).all()
