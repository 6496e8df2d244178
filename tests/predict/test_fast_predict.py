"""Fast predict: boxes found on a reduced grid and mapped exactly to original pixels; decode workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from agcl.boxes.generators import BoxSettings, heatmaps_to_boxes
from agcl.errors import ConfigError
from agcl.inference.predictor import boxes_for_batch
from agcl.labels import LABELS

SIZE = 256  # input side above the default box grid (128)


@pytest.fixture(scope="module")
def checkpoint(make_checkpoint) -> Path:
    """A contract checkpoint of the tiny backbone (seeded random init), input size SIZE."""
    return make_checkpoint(SIZE)


@pytest.fixture()
def images(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    out = []
    for i, (w, h) in enumerate(((300, 200), (180, 240), (256, 256))):
        Image.fromarray((rng.random((h, w)) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
        out.append(tmp_path / f"{i}.png")
    return out


def test_grid_boxes_map_exactly_to_original_pixels():
    cams = np.zeros((1, len(LABELS), 128, 128), np.float32)
    cams[0, 3, 32:64, 16:80] = 4.0  # rows 32..63, columns 16..79 of the 128 grid
    probs = np.zeros((1, len(LABELS)))
    probs[0, 3] = 0.9
    settings = BoxSettings(generator="cam20", upsample_size=128)
    boxes = boxes_for_batch(["x.png"], probs, cams, np.array([1000.0]), np.array([600.0]), settings, 0.5)
    assert boxes["label"].tolist() == [LABELS[3]]
    # grid edges scaled by 1000/128 (x) and 600/128 (y): exact
    np.testing.assert_array_equal(boxes[["x0", "y0", "x1", "y1"]].to_numpy()[0], [125.0, 150.0, 625.0, 300.0])
    assert boxes["score"].iloc[0] == 4.0


def test_predict_uses_reduced_grid_and_maps_boxes(checkpoint: Path, images: list[Path]):
    import agcl

    res = agcl.predict(checkpoint, images, device="cpu", box_threshold=0.0, generator="cam20")
    assert res.settings["boxes"]["upsample_size"] == 128
    for i, row in res.probabilities.iterrows():  # predict's boxes = the 128-grid boxes scaled to W×H
        grid = heatmaps_to_boxes(res.heatmaps[i], row["width"], row["height"],
                                 BoxSettings(generator="cam20", upsample_size=128))
        got = res.boxes_of(row["image"])
        np.testing.assert_allclose(got[["x0", "y0", "x1", "y1"]].to_numpy(), grid.boxes)
        assert (got["x1"] <= row["width"]).all() and (got["y1"] <= row["height"]).all()
    full = agcl.predict(checkpoint, images, device="cpu", box_threshold=0.0, generator="cam20", box_grid=0)
    assert full.settings["boxes"]["upsample_size"] == SIZE
    pd.testing.assert_frame_equal(full.probabilities, res.probabilities)
    # same boxes up to the coarser grid: median corner difference below one 128-grid cell
    cell = np.repeat(res.probabilities[["width", "height"]].to_numpy() / 128, len(LABELS), axis=0)
    diff = np.abs(full.boxes[["x0", "y0", "x1", "y1"]].to_numpy() - res.boxes[["x0", "y0", "x1", "y1"]].to_numpy())
    assert np.median(diff / np.tile(cell, 2)) <= 1.0


def test_decode_workers_give_identical_results(checkpoint: Path, images: list[Path], tmp_path: Path):
    import agcl

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    inputs = [images[0], broken, *images[1:]]
    a = agcl.predict(checkpoint, inputs, device="cpu", batch_size=2, box_threshold=0.0, generator="wang2017")
    b = agcl.predict(checkpoint, inputs, device="cpu", batch_size=2, box_threshold=0.0, generator="wang2017",
                     workers=2)
    pd.testing.assert_frame_equal(a.probabilities, b.probabilities)
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    pd.testing.assert_frame_equal(a.failures, b.failures)
    assert b.failures["image"].tolist() == [str(broken)]
    with pytest.raises(ConfigError, match=r"--workers must be in \[0, 512\]"):
        agcl.predict(checkpoint, images, device="cpu", workers=-1)
