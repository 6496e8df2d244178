"""Pure pieces of the report: overlays (Fig. 3 style), gallery scoring/selection, HTML escaping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.viz.gallery import box_mask, mass_inside, select_gallery
from agcl.viz.html import esc, table
from agcl.viz.overlays import GT_COLOUR, PRED_COLOUR, normalise_for_display, overlay


def test_overlay_draws_boxes_in_the_display_frame() -> None:
    image = np.full((200, 100), 128, dtype=np.uint8)  # H=200, W=100 original
    heat = np.zeros((4, 2), dtype=np.float32)
    heat[0, 0] = 5.0
    rgb = overlay(image, heat, gt_boxes=[(10, 20, 50, 100)], pred_boxes=[(60, 120, 90, 180)], size=100)
    assert rgb.shape == (100, 50, 3) and rgb.dtype == np.uint8  # longest side 100, aspect kept
    assert tuple(rgb[10, 12]) == GT_COLOUR  # GT left edge at x=10/2=5..6, y=20/2=10..50
    assert tuple(rgb[60, 30]) == PRED_COLOUR  # predicted top edge at y=120/2=60
    assert rgb[2, 2, 0] > rgb[95, 45, 0]  # hot corner is redder than the cold one
    plain = overlay(image)  # no heatmap, no boxes: the grey image in RGB
    assert (plain == 128).all()


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
