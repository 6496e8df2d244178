"""Heatmap → boxes: synthetic blobs with known boxes (both generators, options), real GT boxes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.boxes.generators import BoxSettings, heatmap_to_boxes, heatmaps_to_boxes, heatmaps_to_boxes_many
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


def _reference_boxes(maps, widths, heights, st: BoxSettings):
    """Reference: one map and one threshold at a time with scipy.ndimage (the definition in the module
    docstring): (map, x0, y0, x1, y1, score) in output order."""
    import torch
    import torch.nn.functional as F
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 2 if st.connectivity == 8 else 1)
    rows = []
    for i, m in enumerate(np.asarray(maps, np.float32)):
        v = m if st.upsample == "after" else F.interpolate(
            torch.from_numpy(m)[None, None], size=(st.upsample_size,) * 2, mode="bilinear", align_corners=False)[0, 0].numpy()
        lo, hi = (v.min(), v.max()) if st.normalization == "minmax" else (np.float32(0), v.max())
        if not (hi > lo if st.normalization == "minmax" else hi > 0):
            continue
        levels = [t / 255.0 for t in st.wang_thresholds] if st.generator == "wang2017" else [st.cam_fraction]
        found = []
        for level in levels:
            labels, _ = ndimage.label(v >= lo + np.float32(level) * (hi - lo), structure=structure)
            for k, sl in enumerate(ndimage.find_objects(labels), start=1):
                inside = labels == k
                box = np.array([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop], float)
                box *= np.array([widths[i] / v.shape[1], heights[i] / v.shape[0]] * 2)
                found.append((inside.sum(), float(v[inside].max()), i, *box))
        if st.generator == "cam20" and found:
            found = [max(found, key=lambda f: (f[0], f[1]))]  # largest; then higher score; then first
        rows += [(f[2], *f[3:], f[1]) for f in found]
    return rows


@pytest.mark.parametrize("st", [BoxSettings(upsample_size=40), BoxSettings(generator="cam20", upsample_size=33),
                                BoxSettings(upsample="after", connectivity=4), BoxSettings(wang_thresholds=(180.0, 60.0)),
                                BoxSettings(generator="cam20", normalization="max", upsample="after")])
def test_generators_equal_labelling_each_map_and_threshold(st):
    rng = np.random.default_rng(3)
    maps = rng.normal(0, 0.3, (9, 12, 12)).astype(np.float32)
    maps[0] = 0  # constant: no boxes
    maps[1] = np.kron(np.eye(3), np.ones((4, 4)))  # three equal blocks: cam20 ties on size and score
    maps[2] = -np.abs(maps[2])
    widths, heights = rng.integers(50, 1200, 9), rng.integers(50, 1200, 9)
    det = heatmaps_to_boxes(maps, widths, heights, st, chunk=4)
    got = [(int(i), *b, s) for i, b, s in zip(det.map_index, det.boxes.tolist(), det.scores, strict=True)]
    assert got == _reference_boxes(maps, widths, heights, st)


def test_many_settings_share_the_work_and_equal_one_at_a_time():
    rng = np.random.default_rng(4)
    maps = rng.normal(0, 1, (7, 10, 10)).astype(np.float16)
    grid = [BoxSettings(upsample_size=30), BoxSettings(wang_thresholds=(25.5,), upsample_size=30),
            BoxSettings(generator="cam20", cam_fraction=0.7, upsample_size=30),
            BoxSettings(generator="cam20", upsample="after"), BoxSettings(upsample_size=31)]
    together = heatmaps_to_boxes_many(maps, 500, 400, grid, chunk=3)
    for st, det in zip(grid, together, strict=True):
        alone = heatmaps_to_boxes(maps, 500, 400, st)
        for a, b in zip(det, alone, strict=True):
            np.testing.assert_array_equal(a, b)
