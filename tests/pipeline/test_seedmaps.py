"""Seed targets (Eq. 4 indicators), seed-box diagnostics against truth, and the severity-table reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.errors import InputError
from agcl.labels import LABEL_INDEX
from agcl.pipeline.context import load_severity
from agcl.pipeline.diagnostics import seed_box_iobb, summarise
from agcl.pipeline.seedmaps import build_targets, read_seeds, seed_counts, write_seeds
from agcl.pipeline.seeds import select_s2


def _seeds():
    a = select_s2(["x", "y"], np.array([0.9, 0.8]), 0.5, "Mass", 1)
    b = select_s2(["x"], np.array([0.95]), 0.5, "Effusion", 1)
    return pd.concat([a, b], ignore_index=True)


def test_build_targets_masks_and_minmax():
    seeds = _seeds()
    maps = np.stack([np.arange(16.0).reshape(4, 4), np.ones((4, 4)), -np.arange(16.0).reshape(4, 4)])
    t = build_targets(seeds, maps, "minmax")
    assert set(t) == {"x", "y"}
    target, mask = t["x"]
    assert target.shape == (14, 4, 4) and mask.sum() == 2
    assert mask[LABEL_INDEX["Mass"]] == 1 and mask[LABEL_INDEX["Effusion"]] == 1
    assert target[LABEL_INDEX["Mass"]].min() == 0 and target[LABEL_INDEX["Mass"]].max() == 1
    assert not t["y"][0][LABEL_INDEX["Mass"]].any()  # a constant map carries no location: zeros
    raw = build_targets(seeds, maps, "none")
    assert raw["x"][0][LABEL_INDEX["Mass"]].max() == 15
    assert build_targets(seeds.iloc[:0], maps[:0]) == {}


def test_write_read_seeds_roundtrip(tmp_path):
    seeds = _seeds()
    maps = np.random.default_rng(0).random((3, 2, 2))
    write_seeds(tmp_path, seeds, maps)
    back, bmaps = read_seeds(tmp_path)
    cols = ["image_id", "label", "rule"]
    assert back[cols].astype(str).values.tolist() == seeds[cols].astype(str).values.tolist()
    assert np.allclose(bmaps, maps, atol=1e-3)
    counts = seed_counts(back, ["Mass", "Effusion", "Nodule"])
    assert counts.set_index("label")["total"].to_dict() == {"Mass": 2, "Effusion": 1, "Nodule": 0}


def test_seed_box_iobb_hits_misses_and_no_truth():
    seeds = _seeds()
    maps = np.zeros((3, 8, 8), np.float32)
    maps[0, 1:3, 1:3] = 5.0   # x/Mass: bump in the top-left quarter
    maps[1, 6:8, 6:8] = 5.0   # y/Mass: bump bottom-right, truth is top-left
    truth = pd.DataFrame({"image_id": ["x", "y"], "label": ["Mass", "Mass"],
                          "x0": [0.0, 0.0], "y0": [0.0, 0.0], "x1": [40.0, 40.0], "y1": [40.0, 40.0]})
    scores = seed_box_iobb(seeds, maps, truth, np.full(3, 100.0), np.full(3, 100.0), upsample_size=8, geometry=None)
    assert scores[0] > 0.9 and scores[1] == 0.0 and np.isnan(scores[2])  # Effusion of x has no truth
    table = summarise(seeds, scores, ["Mass", "Effusion"]).set_index("label")
    assert table.loc["Mass", "with_truth"] == 2 and table.loc["Mass", "hit_rate"] == 0.5
    assert np.isnan(table.loc["Effusion", "mean_iobb"])
    assert np.isnan(seed_box_iobb(seeds, maps, None, np.ones(3), np.ones(3), 8, None)).all()


def test_seed_box_iobb_reads_feature_grid_maps_in_the_image_frame():
    """Raw seed maps are aligned with the backbone geometry before the cam20 box is drawn."""
    from agcl.cam.align import align_to_image

    seeds = _seeds()
    maps = np.zeros((3, 8, 8), np.float32)
    maps[0, 3, 3] = maps[1, 3, 3] = maps[2, 3, 3] = 1.0  # cell 3 of stride 8, centre 7.5: looks at pixel 31.5
    truth = pd.DataFrame({"image_id": ["x"], "label": ["Mass"], "x0": [30.0], "y0": [30.0], "x1": [40.0], "y1": [40.0]})
    size = np.full(3, 64.0)
    raw = seed_box_iobb(seeds, maps, truth, size, size, 64, None)
    aligned = seed_box_iobb(seeds, maps, truth, size, size, 64, (8, 7.5))
    assert aligned[0] == seed_box_iobb(seeds, align_to_image(maps, 64, 8, 7.5), truth, size, size, 64, None)[0]
    assert aligned[0] > raw[0]


def test_load_severity_accepts_miner_and_joined_tables(tmp_path):
    p = tmp_path / "sev.csv"
    p.write_text("id,label,status,severity,evidence\na,Infiltrate,positive,mild,e\nzz,Mass,positive,severe,e\n")
    df = load_severity(p, {"a"})
    assert df.to_dict("records") == [{"image_id": "a", "label": "Infiltration", "status": "positive", "severity": "mild"}]
    q = tmp_path / "joined.csv"
    q.write_text("image_id,label,status,severity\na,Mass,negative,\n")
    assert load_severity(q, {"a"})["severity"].tolist() == ["none"]


@pytest.mark.parametrize(
    ("text", "match"),
    [("id,label,status\na,Mass,positive\n", "lacks column"),
     ("id,label,status,severity\na,Mass,maybe,mild\n", "row 2: invalid status"),
     ("id,label,status,severity\na,Mass,positive,mild\nb,Mass,positive,huge\n", "row 3: invalid severity"),
     ("id,label,status,severity\na,Masss,positive,mild\n", "did you mean")],
)
def test_load_severity_errors_name_the_row(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        load_severity(p, {"a", "b"})
