"""Pure pieces of the report: overlays (Fig. 3 style), gallery scoring/selection, HTML escaping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.viz.gallery import box_mask, mass_inside, select_gallery
from agcl.viz.html import esc, table
from agcl.viz.overlays import GT_COLOUR, PRED_COLOUR, normalise_for_display, opacity, overlay


def test_overlay_draws_boxes_in_the_display_frame() -> None:
    image = np.full((200, 100), 128, dtype=np.uint8)  # H=200, W=100 original
    heat = np.zeros((4, 2), dtype=np.float32)
    heat[0, 0] = 5.0
    rgb = overlay(image, heat, gt_boxes=[(10, 20, 50, 100)], pred_boxes=[(60, 120, 90, 180)], size=100)
    assert rgb.shape == (100, 50, 3) and rgb.dtype == np.uint8  # longest side 100, aspect kept
    assert tuple(rgb[10, 12]) == GT_COLOUR  # GT left edge at x=10/2=5..6, y=20/2=10..50
    assert tuple(rgb[60, 30]) == PRED_COLOUR  # predicted top edge at y=120/2=60
    assert rgb[2, 2, 1] < 64 and rgb[2, 2, 2] < 64  # hot corner: jet's dark red (no green or blue)
    assert (rgb[95, 45] == 128).all()  # cold corner: transparent heatmap, the grey radiograph
    plain = overlay(image)  # no heatmap, no boxes: the grey image in RGB
    assert (plain == 128).all()


def test_overlay_opacity_follows_intensity_with_colour_bar_and_top_boxes() -> None:
    image = np.full((100, 100), 128, dtype=np.uint8)
    heat = np.zeros((10, 10), dtype=np.float32)
    heat[6:9, 1:4] = 1.0  # hot block bottom-left; the rest is at the map minimum
    np.testing.assert_allclose(opacity(np.array([[0.0, 0.25, 0.625, 1.0]]), 0.6, 0.25)[..., 0], [[0, 0, 0.3, 0.6]])
    rgb = overlay(image, heat, size=100)
    assert (rgb[30:50, 30:60] == 128).all()  # weak response: fully transparent, the radiograph untouched
    assert rgb[75, 25, 1] < 64 and rgb[75, 25, 2] < 64  # hot block: jet's dark red
    bar = rgb[10:40, 94, :]  # the colour bar, top right: hot colours at the top, cold at the bottom
    assert bar[0, 0] > bar[0, 2] and bar[-1, 2] > bar[-1, 0]
    assert (overlay(image, heat, size=100, colour_bar=False)[10:40, 94] == 128).all()
    boxes = [(10, 10, 20, 20), (30, 10, 40, 20), (50, 10, 60, 20), (70, 10, 80, 20), (10, 60, 20, 70)]
    scores = [0.9, 0.1, 0.8, 0.7, 0.2]
    top = overlay(image, None, pred_boxes=boxes, pred_scores=scores, max_pred=3)
    drawn = [tuple(top[(b[1] + b[3]) // 2, b[0]]) == PRED_COLOUR for b in boxes]  # left edge of each box
    assert drawn == [True, False, True, True, False]  # the three highest scores only
    assert (top[21:31, 10:20] != 128).any()  # a score label below the first box (no room above it)
    assert (top[49:59, 10:20] == 128).all()  # the dropped box (score 0.2) gets no label above it
    labelled = overlay(image, None, pred_boxes=[(10, 60, 20, 70)], pred_scores=[0.2])
    assert (labelled[49:59, 10:20] != 128).any()  # ... while a kept one does
    every = overlay(image, None, pred_boxes=boxes)  # without scores every box is drawn
    assert all(tuple(every[(b[1] + b[3]) // 2, b[0]]) == PRED_COLOUR for b in boxes)


def test_normalise_for_display_handles_constant_and_nan() -> None:
    assert (normalise_for_display(np.ones((3, 3))) == 0).all()
    out = normalise_for_display(np.array([[0.0, np.nan], [2.0, 4.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.0], [0.5, 1.0]])


def test_box_mask_is_fractional_and_mass_inside_is_a_share() -> None:
    mask = box_mask([(0, 0, 50, 25)], frame=(100, 100), grid=(4, 4))  # half a cell wide, quarter high
    np.testing.assert_allclose(mask[0], [1, 1, 0, 0])
    assert mask[1:].sum() == 0
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    assert mass_inside(heat, [(0, 0, 25, 25)], (100, 100)) == pytest.approx(1.0)
    assert mass_inside(heat, [(50, 50, 100, 100)], (100, 100)) == pytest.approx(0.0)
    assert np.isnan(mass_inside(np.ones((4, 4)), [(0, 0, 10, 10)], (100, 100)))


def test_gallery_selection_is_deterministic_and_ordered() -> None:
    rng = np.random.default_rng(1)
    scores = pd.DataFrame({"image_id": [f"i{k}" for k in range(10)] * 2,
                           "label": ["Effusion"] * 10 + ["Atelectasis"] * 10, "score": rng.random(20)})
    a = select_gallery(scores, seed=3, n_random=2)
    b = select_gallery(scores.sample(frac=1, random_state=0), seed=3, n_random=2)
    pd.testing.assert_frame_equal(a, b)  # input order does not matter
    assert list(a["label"].unique()) == ["Atelectasis", "Effusion"]  # canonical class order
    eff = a[a["label"] == "Effusion"].set_index("kind")
    part = scores[scores["label"] == "Effusion"]
    assert eff.loc["best", "score"] == part["score"].max()
    assert eff.loc["worst", "score"] == part["score"].min()
    assert len(a[(a["label"] == "Effusion") & (a["kind"] == "random")]) == 2
    assert not a.duplicated(["label", "image_id"]).any()
    one = select_gallery(scores.iloc[:1], seed=0)
    assert list(one["kind"]) == ["best"]


def test_html_table_escapes_cells_and_headers() -> None:
    df = pd.DataFrame({'<th>"': ["<script>x</script>"], "v": [np.float32(0.5)], "n": [float("nan")]})
    out = table(df)
    assert "<script>" not in out and "&lt;script&gt;" in out and "&lt;th&gt;&quot;" in out
    assert ">0.500<" in out and "&mdash;" in out
    assert esc("a'b\"c&") == "a&#x27;b&quot;c&amp;"
