"""The premise study's statistics (benchmarks/premise_stats.py): per-image counts, paired bootstrap, seed sources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agcl.evaluation.localization import localization_table, scope_pairs

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "premise_stats.py"
_spec = importlib.util.spec_from_file_location("premise_stats", _PATH)
st = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(st)


def _boxes(rng, ids, labels, n):
    x0 = rng.uniform(0, 80, n)
    y0 = rng.uniform(0, 80, n)
    return pd.DataFrame({"image_id": rng.choice(ids, n), "label": rng.choice(labels, n), "x0": x0, "y0": y0,
                         "x1": x0 + rng.uniform(5, 48, n), "y1": y0 + rng.uniform(5, 48, n)})


def test_image_counts_sum_to_table2_total():
    rng = np.random.default_rng(0)
    ids = [f"i{k}" for k in range(30)]
    gt = _boxes(rng, ids[:20], ["Mass", "Nodule"], 40)
    pairs = scope_pairs(gt, "gt_images", ["Mass", "Nodule"])
    det = _boxes(rng, ids[:20], ["Mass", "Nodule"], 200).merge(pairs, on=["image_id", "label"]).assign(score=1.0)
    total = localization_table(det, gt, pairs, ["Mass", "Nodule"], t=0.25).iloc[-1]
    counts = st.image_counts(det, gt, ids, t=0.25)
    assert counts.shape == (30, 4)
    assert counts.sum(0).tolist() == [total["gt"], total["gt_hit"], total["detected"], total["tp"]]
    assert counts[20:].sum() == 0  # images without boxes count nothing
    assert 0 < total["gt_hit"] < total["gt"]  # the check above is not trivially all-or-nothing


def _labels_and_scores(rng, n=200, k=2):
    y = (rng.random((n, k)) < 0.3).astype(int)
    noise = rng.normal(size=(n, k))
    return y, noise


def test_paired_bootstrap_identical_models_is_exactly_zero():
    rng = np.random.default_rng(1)
    y, p = _labels_and_scores(rng)
    c = rng.integers(0, 3, (len(y), 4))
    res = st.paired_bootstrap_naive(y, [(p, p, c, c)], n_boot=5)
    assert res["point"] == [0.0, 0.0, 0.0] and res["lo"] == [0.0, 0.0, 0.0] and res["hi"] == [0.0, 0.0, 0.0]


def test_paired_bootstrap_detects_a_better_model_and_is_deterministic():
    rng = np.random.default_rng(2)
    y, noise = _labels_and_scores(rng)
    weak, strong = noise + 0.3 * y, noise + 1.5 * y
    gt = np.ones((len(y), 1), int)
    ca = np.hstack([gt, rng.random((len(y), 1)) < 0.2, 2 * gt, rng.random((len(y), 1)) < 0.2]).astype(int)
    cb = np.hstack([gt, rng.random((len(y), 1)) < 0.8, 2 * gt, rng.random((len(y), 1)) < 0.8]).astype(int)
    runs = [(weak, strong, ca, cb), (weak, strong + 0.01 * rng.normal(size=y.shape), ca, cb)]
    res = st.paired_bootstrap_naive(y, runs, n_boot=12, seed=3)
    assert all(lo > 0 for lo in res["lo"])  # AUC, recall and precision all better, CI excludes 0
    assert res["point"][0] == pytest.approx(np.mean([st.mean_auc(y, b) - st.mean_auc(y, a) for a, b, _, _ in runs]))
    assert res == st.paired_bootstrap_naive(y, runs, n_boot=12, seed=3)
    swapped = st.paired_bootstrap_naive(y, [(b, a, cb_, ca_) for a, b, ca_, cb_ in runs], n_boot=12, seed=3)
    assert np.allclose(swapped["point"], -np.asarray(res["point"]))


@pytest.mark.parametrize("seed", [0, 7])
def test_vectorised_paired_bootstrap_equals_the_loop(seed):
    rng = np.random.default_rng(10 + seed)
    y, noise = _labels_and_scores(rng, n=60, k=3)
    y[:, 2] = 0
    y[:3, 2] = 1  # a rare class: undefined in some resamples, left out of those means by both
    runs = []
    for _ in range(2):
        ca = np.c_[rng.integers(0, 2, (60, 1)), np.zeros((60, 1)), rng.integers(0, 3, (60, 1)), np.zeros((60, 1))]
        ca[:, 1] = rng.random(60) < 0.4 * ca[:, 0]
        ca[:, 3] = rng.random(60) < 0.3 * (ca[:, 2] > 0)
        cb = ca.copy()
        cb[:, 1] = np.minimum(ca[:, 0], ca[:, 1] + (rng.random(60) < 0.3))
        runs.append((noise + 0.5 * y, noise + y + 0.1 * rng.normal(size=y.shape), ca.astype(int), cb.astype(int)))
    fast = st.paired_bootstrap(y, runs, n_boot=40, seed=seed)
    slow = st.paired_bootstrap_naive(y, runs, n_boot=40, seed=seed)
    for key in ("point", "lo", "hi"):
        assert np.allclose(fast[key], slow[key], atol=1e-12), key
    assert fast["lo"][1] < fast["hi"][1]  # recall differs between resamples: the interval is not degenerate


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
