"""The premise study's own statistics (benchmarks/premise_stats.py): seed sources and seed quality.

Its per-image counts and paired bootstrap are the product's (tests/evaluate/test_paired.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "premise_stats.py"
_spec = importlib.util.spec_from_file_location("premise_stats", _PATH)
st = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(st)


def test_seed_sources_take_the_most_severe_positive_grade():
    seeds = pd.DataFrame({"image_id": ["a", "a", "b", "c", "d"], "label": ["Mass", "Nodule", "Mass", "Mass", "Mass"],
                          "rule": ["S1", "S1", "S2", "AGL", "S1"]})
    severity = pd.DataFrame({"image_id": ["a", "a", "a", "d", "d"], "label": ["Mass", "Mass", "Nodule", "Mass", "Mass"],
                             "status": ["positive", "positive", "positive", "positive", "negative"],
                             "severity": ["moderate", "severe", "moderate", "moderate", "severe"]})
    assert st.seed_sources(seeds, severity).tolist() == ["S1 severe", "S1 moderate", "S2", "AGL", "S1 moderate"]
    assert st.seed_sources(seeds, None).tolist() == ["S1 none", "S1 none", "S2", "AGL", "S1 none"]


def test_seed_quality_scores_maps_on_and_off_the_truth_box():
    maps = np.zeros((3, 8, 8), np.float32)
    maps[0, 1:3, 1:3] = 1.0  # top-left: on the truth box
    maps[1, 5:7, 5:7] = 1.0  # bottom-right: off it
    maps[2, 1:3, 1:3] = 1.0  # no truth for this (image, class)
    seeds = pd.DataFrame({"image_id": ["a", "b", "c"], "label": ["Mass"] * 3, "rule": ["S2", "S2", "AGL"]})
    truth = pd.DataFrame({"image_id": ["a", "b"], "label": ["Mass", "Mass"], "x0": [8.0, 8.0], "y0": [8.0, 8.0],
                          "x1": [48.0, 48.0], "y1": [48.0, 48.0]})
    sizes = pd.DataFrame({"image_id": ["a", "b", "c"], "width": [128] * 3, "height": [128] * 3})
    q = st.seed_quality(seeds, maps, truth, sizes, None, upsample_size=128, geometry=None).set_index("source")
    assert q.loc["S2", "seeds"] == 2 and q.loc["S2", "with_truth"] == 2
    assert q.loc["S2", "hit_rate"] == 0.5
    assert q.loc["S2", "pointing"] == 0.5  # the argmax of map 0 is inside its box, that of map 1 is not
    assert q.loc["AGL", "with_truth"] == 0 and np.isnan(q.loc["AGL", "mean_iobb"])
