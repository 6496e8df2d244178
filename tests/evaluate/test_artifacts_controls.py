"""Stage artifacts round trip and validation; controls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.errors import InputError
from agcl.evaluation.artifacts import (
    read_boxes,
    read_heatmaps,
    read_predictions,
    write_boxes,
    write_heatmaps,
    write_predictions,
)
from agcl.evaluation.controls import centre_heatmaps, control_outputs, uniform_heatmaps
from agcl.labels import LABELS


def test_predictions_and_heatmaps_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.random((3, 14))
    write_predictions(tmp_path, ["x1", "x2", "x3"], probs)
    df = read_predictions(tmp_path)
    assert list(df.columns) == ["image_id", *LABELS]
    np.testing.assert_allclose(df[list(LABELS)].to_numpy(), probs, rtol=1e-5)
    cams = rng.normal(size=(3, 14, 4, 4)) * 10
    write_heatmaps(tmp_path, ["x1", "x2", "x3"], cams)
    ids, arr = read_heatmaps(tmp_path)
    assert ids == ["x1", "x2", "x3"] and arr.dtype == np.float16
    np.testing.assert_allclose(arr, cams, rtol=1e-3, atol=1e-2)
    boxes = pd.DataFrame({"image_id": ["x1"], "label": ["Mass"], "x0": [1.0], "y0": [2.0], "x1": [3.0], "y1": [4.0],
                          "score": [0.5]})
    write_boxes(tmp_path / "boxes.csv", boxes)
    assert read_boxes(tmp_path / "boxes.csv").equals(boxes)


def test_artifact_validation(tmp_path):
    with pytest.raises(ValueError):
        write_predictions(tmp_path, ["a", "a"], np.zeros((2, 14)))
    with pytest.raises(ValueError):
        write_heatmaps(tmp_path, ["a"], np.full((1, 14, 2, 2), np.nan))
    assert not (tmp_path / "heatmaps.npy").exists()
    bad = pd.DataFrame(np.full((1, 14), 0.5), columns=list(LABELS))
    bad.insert(0, "image_id", ["a"])
    bad.loc[0, "Mass"] = 1.5
    bad.to_csv(tmp_path / "predictions.csv", index=False)
    with pytest.raises(InputError, match="row 2"):
        read_predictions(tmp_path)
    with pytest.raises(InputError, match="heatmaps not found"):
        read_heatmaps(tmp_path)


def test_controls():
    a = uniform_heatmaps(2, 3, (4, 5), seed=1)
    assert a.shape == (2, 3, 4, 5) and np.array_equal(a, uniform_heatmaps(2, 3, (4, 5), seed=1))
    c = centre_heatmaps(1, 1, (5, 5))[0, 0]
    assert np.unravel_index(c.argmax(), c.shape) == (2, 2) and np.allclose(c, c.T)
    probs, maps = control_outputs("centre", 4, 14, (8, 8))
    assert (probs == 0.5).all() and maps.shape == (4, 14, 8, 8)
    with pytest.raises(ValueError):
        control_outputs("zeros", 1, 1, (2, 2))
