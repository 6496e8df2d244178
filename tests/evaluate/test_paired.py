"""The one paired bootstrap (agcl.evaluation.paired): per-image counts, the vectorised resamples against a
plain scikit-learn loop on the same resamples, and the one-line readings (agcl.evaluation.readings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from agcl.evaluation import paired as P
from agcl.evaluation.localization import localization_table, pointing_game, scope_pairs
from agcl.evaluation.readings import paired_rows, paired_table, reading, readings, verdict


def _boxes(rng, ids, labels, n):
    x0 = rng.uniform(0, 80, n)
    y0 = rng.uniform(0, 80, n)
    return pd.DataFrame({"image_id": rng.choice(ids, n), "label": rng.choice(labels, n), "x0": x0, "y0": y0,
                         "x1": x0 + rng.uniform(5, 48, n), "y1": y0 + rng.uniform(5, 48, n)})


def test_box_counts_sum_to_table2_total():
    rng = np.random.default_rng(0)
    ids = [f"i{k}" for k in range(30)]
    gt = _boxes(rng, ids[:20], ["Mass", "Nodule"], 40)
    pairs = scope_pairs(gt, "gt_images", ["Mass", "Nodule"])
    det = _boxes(rng, ids[:20], ["Mass", "Nodule"], 200).merge(pairs, on=["image_id", "label"]).assign(score=1.0)
    total = localization_table(det, gt, pairs, ["Mass", "Nodule"], t=0.25).iloc[-1]
    counts = P.box_counts(det, gt, ids, t=0.25)
    assert counts.shape == (30, 4)
    assert counts.sum(0).tolist() == [total["gt"], total["gt_hit"], total["detected"], total["tp"]]
    assert counts[20:].sum() == 0  # images without boxes count nothing
    assert 0 < total["gt_hit"] < total["gt"]  # the check above is not trivially all-or-nothing


def test_pointing_counts_are_the_pointing_game_per_image():
    rng = np.random.default_rng(1)
    ids = [f"i{k}" for k in range(12)]
    gt = _boxes(rng, ids[:10], ["Mass", "Nodule"], 25)
    pairs = scope_pairs(gt, "gt_images", ["Mass", "Nodule"])
    maps = rng.random((len(pairs), 4, 4)).astype(np.float32)
    w = h = np.full(len(pairs), 128.0)
    counts = P.pointing_counts(maps, pairs, gt, w, h, ids)
    game = pointing_game(maps, pairs, gt, w, h, ["Mass", "Nodule"]).iloc[-1]
    assert counts.sum(0).tolist() == [game["n"], game["hits"]] and 0 < game["hits"] < game["n"]
    for image in ("i0", "i3"):  # each image's row is the game played on that image alone
        sel = (pairs["image_id"] == image).to_numpy()
        alone = pointing_game(maps[sel], pairs[sel], gt, w[sel], h[sel], ["Mass", "Nodule"]).iloc[-1]
        assert counts[ids.index(image)].tolist() == [alone["n"], alone["hits"]]


def _labels_and_scores(rng, n=200, k=2):
    return (rng.random((n, k)) < 0.3).astype(int), rng.normal(size=(n, k))


def _counts(rng, n, better=0.0):
    c = np.zeros((n, 6), int)
    c[:, 0] = rng.integers(0, 2, n)
    c[:, 1] = rng.random(n) < (0.4 + better) * c[:, 0]
    c[:, 2] = rng.integers(0, 3, n)
    c[:, 3] = rng.random(n) < (0.3 + better) * (c[:, 2] > 0)
    c[:, 4] = c[:, 0]
    c[:, 5] = rng.random(n) < (0.2 + better) * c[:, 4]
    return c


def _sklearn_loop(y, runs, n_boot, seed, alpha=0.05):
    """The reference: one resample at a time, ``rng.integers(0, N, N)`` rows, sklearn's roc_auc_score per class."""
    def metrics(yy, p, c):
        aucs = [roc_auc_score(yy[:, k], p[:, k]) for k in range(yy.shape[1]) if 0 < yy[:, k].sum() < len(yy)]
        s = c.sum(axis=0).astype(float)
        ratio = [s[n] / s[d] if s[d] else np.nan for n, d in ((1, 0), (3, 2), (5, 4))]
        return np.array([np.mean(aucs) if aucs else np.nan, *ratio])

    def delta(idx):
        return np.mean([metrics(y[idx], pb[idx], cb[idx]) - metrics(y[idx], pa[idx], ca[idx])
                        for pa, pb, ca, cb in runs], axis=0)

    rng = np.random.default_rng(seed)
    boots = np.array([delta(rng.integers(0, len(y), len(y))) for _ in range(n_boot)])
    lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    return {"point": delta(np.arange(len(y))), "lo": lo, "hi": hi}


@pytest.mark.parametrize("seed", [0, 7])
def test_vectorised_paired_bootstrap_equals_the_sklearn_loop(seed):
    rng = np.random.default_rng(10 + seed)
    y, noise = _labels_and_scores(rng, n=60, k=3)
    y[:, 2] = 0
    y[:3, 2] = 1  # a rare class: undefined in some resamples, left out of those means by both
    runs = [(noise + 0.5 * y, noise + y + 0.1 * rng.normal(size=y.shape), _counts(rng, 60), _counts(rng, 60, 0.2))
            for _ in range(2)]
    fast = P.paired_bootstrap(y, runs, n_boot=40, seed=seed)
    slow = _sklearn_loop(y, runs, n_boot=40, seed=seed)
    for key in ("point", "lo", "hi"):
        np.testing.assert_allclose(fast[key], slow[key], rtol=0, atol=1e-12, err_msg=key)
    assert all(fast["lo"][i] < fast["hi"][i] for i in range(4))  # every metric varies: no degenerate interval
    assert np.asarray(fast["per_seed"]).shape == (2, 4)


def test_identical_models_differ_by_exactly_zero():
    rng = np.random.default_rng(1)
    y, p = _labels_and_scores(rng)
    c = _counts(rng, len(y))
    res = P.paired_bootstrap(y, [(p, p, c, c)], n_boot=5)
    assert res["point"] == [0.0] * 4 and res["lo"] == [0.0] * 4 and res["hi"] == [0.0] * 4


def test_a_better_model_is_detected_deterministically_and_antisymmetric():
    rng = np.random.default_rng(2)
    y, noise = _labels_and_scores(rng)
    weak, strong = noise + 0.3 * y, noise + 1.5 * y
    ca, cb = _counts(rng, len(y)), _counts(rng, len(y), 0.5)
    runs = [(weak, strong, ca, cb), (weak, strong + 0.01 * rng.normal(size=y.shape), ca, cb)]
    res = P.paired_bootstrap(y, runs, n_boot=30, seed=3)
    assert all(lo > 0 for lo in res["lo"])  # AUC, recall, precision and pointing all better: CIs exclude 0
    assert res["point"][0] == pytest.approx(np.mean([P.mean_auc(y, b) - P.mean_auc(y, a) for a, b, _, _ in runs]))
    assert res == P.paired_bootstrap(y, runs, n_boot=30, seed=3)
    swapped = P.paired_bootstrap(y, [(b, a, cb_, ca_) for a, b, ca_, cb_ in runs], n_boot=30, seed=3)
    assert np.allclose(swapped["point"], -np.asarray(res["point"]))


def test_paired_table_shares_resamples_across_comparisons():
    rng = np.random.default_rng(4)
    y, noise = _labels_and_scores(rng, n=80)
    scores = np.stack([[noise + j * 0.4 * y + 0.05 * s * rng.normal(size=y.shape) for s in range(2)] for j in range(3)])
    counts = np.stack([[_counts(rng, 80, 0.1 * j) for _ in range(2)] for j in range(3)])
    table = paired_table(y, scores, counts, ["BSL", "BSL+", "AGL"], [0, 1], [("AGL", "BSL"), ("AGL", "BSL+")], 25, 0,
                         {"t": 0.25})
    assert len(table) == 8 and set(table["metric"]) == set(P.METRICS) and (table["t"] == 0.25).all()
    row = table[(table["model"] == "AGL") & (table["reference"] == "BSL") & (table["metric"] == "auc")].iloc[0]
    direct = P.paired_bootstrap(y, [(scores[0, s], scores[2, s], counts[0, s], counts[2, s]) for s in range(2)], 25, 0)
    assert row["diff"] == pytest.approx(direct["point"][0]) and row["ci_low"] == pytest.approx(direct["lo"][0])
    assert [row["seed_0"], row["seed_1"]] == pytest.approx([d[0] for d in direct["per_seed"]])
    assert row["training_seeds"] == "0 1" and row["resamples"] == 25


@pytest.mark.parametrize(("lo", "hi", "want"), [(0.006, 0.021, "gain"), (-0.06, -0.001, "loss"),
                                                  (-0.03, 0.02, "noise"), (0.0, 0.0, "noise"),
                                                  (float("nan"), 0.1, "undefined")])
def test_verdict_reads_whether_the_interval_excludes_zero(lo, hi, want):
    assert verdict(lo, hi) == want


def _diff(point, lo, hi):
    return {"point": point, "lo": lo, "hi": hi, "n_valid": [1000] * 4, "per_seed": [point]}


def test_reading_names_gains_and_losses_with_numbers_and_the_rest_as_noise():
    rows = paired_rows("AGCL-2", "BSL+", _diff([0.0128, -0.0307, -0.0058, 0.01], [0.0056, -0.0598, -0.0126, -0.02],
                                               [0.0207, -0.0001, 0.0010, 0.03]), [0], {})
    assert reading("AGCL-2", "BSL+", rows) == ("AGCL-2 − BSL+: +0.013 AUC [+0.006, +0.021]; "
                                               "−0.031 recall [−0.060, −0.000]; precision and pointing within noise")
    three = {**_diff([0.048, 0.01, 0.0, 0.0], [0.020, -0.01, -0.01, -0.01], [0.076, 0.02, 0.01, 0.01]),
             "per_seed": [[0.07, 0, 0, 0], [-0.01, 0, 0, 0], [0.08, 0, 0, 0]]}
    assert reading("AGL", "BSL", paired_rows("AGL", "BSL", three, [0, 1, 2], {})) == (
        "AGL − BSL: +0.048 AUC [+0.020, +0.076] (2 of 3 seeds); recall, precision and pointing within noise")
    quiet = paired_rows("AGL", "BSL", _diff([0.01] * 4, [-0.01] * 4, [0.02] * 4), [0], {})
    assert reading("AGL", "BSL", quiet) == "AGL − BSL: AUC, recall, precision and pointing within noise"
    no_boxes = paired_rows("AGL", "BSL", _diff([0.01] + [np.nan] * 3, [0.002] + [np.nan] * 3,
                                               [0.02] + [np.nan] * 3), [0], {})
    assert readings(pd.concat([no_boxes])) == ["AGL − BSL: +0.010 AUC [+0.002, +0.020]; recall, precision and "
                                               "pointing not measured"]
