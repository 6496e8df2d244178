"""Table 2 counting on hand-computed cases (incl. TP > GT), scopes, criteria, sweeps, pointing game."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.evaluation.localization import (
    localization_table,
    match_boxes,
    pointing_game,
    scope_pairs,
    threshold_sweep,
)

GT = pd.DataFrame({"image_id": ["a", "a", "b", "c"], "label": ["Mass", "Mass", "Mass", "Nodule"],
                   "x0": [0.0, 50, 0, 10], "y0": [0.0, 50, 0, 10], "x1": [20.0, 70, 100, 20], "y1": [20.0, 70, 100, 20]})


def _det(rows):
    return pd.DataFrame(rows, columns=["image_id", "label", "x0", "y0", "x1", "y1", "score"])


def test_paper_counting_tp_can_exceed_gt():
    # image b: one big GT; three detections inside it -> all TP (IoBB = 1), one GT hit
    det = _det([["b", "Mass", 0, 0, 10, 10, 1], ["b", "Mass", 20, 20, 40, 40, 1], ["b", "Mass", 50, 50, 90, 90, 1],
                ["a", "Mass", 0, 0, 40, 40, 1],  # IoBB with GT1 = 400/1600 = 0.25 -> NOT > 0.25
                ["a", "Mass", 55, 55, 60, 60, 1],  # inside GT2 -> TP
                ["c", "Nodule", 100, 100, 110, 110, 1]])  # miss
    pairs = scope_pairs(GT)
    before = det.copy()
    tab = localization_table(det, GT, pairs, ["Mass", "Nodule"], t=0.25).set_index("label")
    assert det.equals(before)
    assert tab.loc["Mass", ["gt", "detected", "tp", "gt_hit"]].tolist() == [3, 5, 4, 2]
    assert tab.loc["Mass", "recall"] == pytest.approx(2 / 3) and tab.loc["Mass", "precision"] == pytest.approx(4 / 5)
    assert tab.loc["Nodule", ["gt", "detected", "tp", "gt_hit", "fp"]].tolist() == [1, 1, 0, 0, 1]
    assert tab.loc["Total", ["gt", "detected", "tp", "gt_hit"]].tolist() == [4, 6, 4, 2]
    assert tab.loc["Total", "precision"] == pytest.approx(4 / 6)
    assert tab.loc["Mass", "afp"] == pytest.approx(1 / 2)  # 1 FP over 2 Mass images
    b = localization_table(det[det["image_id"] == "b"], GT, pairs, ["Mass"]).set_index("label")
    assert b.loc["Mass", "tp"] > 1 and b.loc["Mass", "gt_hit"] == 1  # TP counts boxes, recall counts GT


def test_criteria_and_strictness():
    det = _det([["a", "Mass", 0, 0, 40, 40, 1]])
    tp, hit = match_boxes(det, GT, t=0.24, criterion="iobb")
    assert tp.tolist() == [True] and hit.tolist() == [True, False, False, False]
    assert not match_boxes(det, GT, t=0.25, criterion="iobb")[0].any()
    # IoU = 400 / 1600 = 0.25 as well; 'either' takes the larger
    assert match_boxes(det, GT, t=0.2, criterion="iou")[0].all()
    inside = _det([["b", "Mass", 0, 0, 10, 10, 1]])  # IoBB 1, IoU 0.01
    assert not match_boxes(inside, GT, 0.5, "iou")[0].any() and match_boxes(inside, GT, 0.5, "either")[0].all()
    with pytest.raises(ValueError):
        match_boxes(det, GT, 0.5, "dice")


def test_scopes():
    assert len(scope_pairs(GT)) == 3
    allp = scope_pairs(GT, "all_box_images", ["Mass", "Nodule"])
    assert len(allp) == 6
    preds = pd.DataFrame({"image_id": ["a", "b", "c"], "Mass": [0.9, 0.1, 0.6], "Nodule": [0.2, 0.5, 0.4]})
    pp = scope_pairs(GT, "predicted_positive", ["Mass", "Nodule"], preds, threshold=0.5)
    assert list(map(tuple, pp.to_numpy())) == [("a", "Mass"), ("b", "Nodule"), ("c", "Mass")]
    # a FP on an image without GT of the class counts under all_box_images, not under gt_images
    det = _det([["a", "Nodule", 0, 0, 5, 5, 1]])
    t_all = localization_table(det, GT, allp, ["Nodule"]).set_index("label")
    t_gt = localization_table(det, GT, scope_pairs(GT), ["Nodule"]).set_index("label")
    assert t_all.loc["Nodule", "detected"] == 1 and t_gt.loc["Nodule", "detected"] == 0
    with pytest.raises(ValueError):
        scope_pairs(GT, "everything")


def test_threshold_sweep_and_pointing_game():
    det = _det([["b", "Mass", 0, 0, 10, 10, 1], ["a", "Mass", 0, 0, 40, 40, 1]])
    sweep = threshold_sweep(det, GT, scope_pairs(GT), ["Mass"], thresholds=(0.1, 0.5)).set_index(["t", "label"])
    assert sweep.loc[(0.1, "Mass"), "acc"] == pytest.approx(2 / 3) and sweep.loc[(0.5, "Mass"), "acc"] == pytest.approx(1 / 3)
    assert sweep.loc[(0.5, "Mass"), "afp"] == pytest.approx(1 / 2)
    pairs = scope_pairs(GT)  # (a,Mass), (b,Mass), (c,Nodule)
    maps = np.zeros((3, 10, 10))
    maps[0, 0, 0] = 1  # centre (5,5) in a 100-px image -> inside GT (0,0,20,20)
    maps[1, 9, 9] = 1  # (95,95) inside b's big box
    maps[2, 5, 5] = 1  # (55,55) outside c's Nodule box
    pg = pointing_game(maps, pairs, GT, [100, 100, 100], [100, 100, 100], ["Mass", "Nodule"]).set_index("label")
    assert pg.loc["Mass", ["n", "hits"]].tolist() == [2, 2] and pg.loc["Nodule", "hits"] == 0
    assert pg.loc["Total", "accuracy"] == pytest.approx(2 / 3)
    assert (pg["tolerance_px"] == 0).all()
    # (55,55) is hypot(35,35) = 49.5 px from the Nodule box (10,10,20,20): a hit only with tolerance >= 49.5
    near = pointing_game(maps, pairs, GT, [100] * 3, [100] * 3, ["Mass", "Nodule"], tolerance=50).set_index("label")
    far = pointing_game(maps, pairs, GT, [100] * 3, [100] * 3, ["Mass", "Nodule"], tolerance=49).set_index("label")
    assert near.loc["Nodule", "hits"] == 1 and far.loc["Nodule", "hits"] == 0
    assert near.loc["Total", "tolerance_px"] == 50.0


def _random_tables(seed: int):
    rng = np.random.default_rng(seed)
    images, labels = ["i0", "i1", "i2", "i3"], ["Mass", "Nodule", "Effusion"]

    def boxes(n):
        xy = np.sort(rng.uniform(0, 100, (n, 2, 2)), axis=1).reshape(n, 4)[:, [0, 2, 1, 3]]
        return pd.DataFrame({"image_id": rng.choice(images, n), "label": rng.choice(labels, n),
                             "x0": xy[:, 0], "y0": xy[:, 1], "x1": xy[:, 2], "y1": xy[:, 3]})

    gt, det = boxes(12), boxes(60)
    det["score"] = rng.random(len(det))
    det.loc[det.index[:3], ["x1", "y1"]] = det.loc[det.index[:3], ["x0", "y0"]].to_numpy()  # zero-area boxes
    return gt, det, rng


def _reference_match(det, gt, t, criterion):
    """Reference: per (image, class) group, the full overlap matrix of agcl.boxes.geometry."""
    from agcl.boxes.geometry import iobb, iou

    tp, hit = np.zeros(len(det), bool), np.zeros(len(gt), bool)
    for key, gi in gt.reset_index(drop=True).groupby(["image_id", "label"]).indices.items():
        di = np.flatnonzero(((det["image_id"] == key[0]) & (det["label"] == key[1])).to_numpy())
        d, g = det[["x0", "y0", "x1", "y1"]].to_numpy(float)[di], gt[["x0", "y0", "x1", "y1"]].to_numpy(float)[gi]
        ov = {"iobb": iobb(d, g), "iou": iou(d, g), "either": np.maximum(iobb(d, g), iou(d, g))}[criterion]
        tp[di] |= (ov > t).any(axis=1)
        hit[gi] |= (ov > t).any(axis=0)
    return tp, hit


@pytest.mark.parametrize("criterion", ["iobb", "iou", "either"])
def test_matching_equals_the_overlap_matrix_of_each_group(criterion):
    for seed in range(5):
        gt, det, _ = _random_tables(seed)
        for t in (0.0, 0.1, 0.25, 0.5):
            got = match_boxes(det, gt, t, criterion)
            ref = _reference_match(det, gt, t, criterion)
            assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_pointing_game_equals_a_loop_over_pairs():
    from agcl.boxes.geometry import contains_point
    from agcl.evaluation.localization import point_distance

    for seed in range(4):
        gt, _, rng = _random_tables(seed)
        pairs = scope_pairs(gt, "all_box_images", ["Mass", "Nodule", "Effusion"])
        maps = rng.random((len(pairs), 6, 7))
        w, h = rng.integers(50, 200, len(pairs)), rng.integers(50, 200, len(pairs))
        for tol in (0.0, 15.0):
            got = pointing_game(maps, pairs, gt, w, h, ["Mass", "Nodule"], tolerance=tol).set_index("label")
            flat = maps.reshape(len(maps), -1).argmax(axis=1)
            xs, ys = (flat % 7 + 0.5) * w / 7, (flat // 7 + 0.5) * h / 6
            for label in ("Mass", "Nodule"):
                n = hits = 0
                for i, (img, lab) in enumerate(zip(pairs["image_id"], pairs["label"], strict=True)):
                    b = gt[(gt["image_id"] == img) & (gt["label"] == lab)][["x0", "y0", "x1", "y1"]].to_numpy(float)
                    if lab != label or not len(b):
                        continue
                    n += 1
                    hits += bool(contains_point(b, xs[i], ys[i]).any() or (tol > 0 and (point_distance(b, xs[i], ys[i]) <= tol).any()))
                assert got.loc[label, ["n", "hits"]].tolist() == [n, hits]

