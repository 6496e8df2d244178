"""Vectorised bootstrap AUC: equal to the scikit-learn loop, ties, degenerate resamples, paired differences."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from agcl.evaluation.auc import auc_table
from agcl.evaluation.bootstrap import bootstrap_aucs, paired_difference, resample_counts, weighted_auc


def _sklearn_per_resample(y, s, n_boot, seed):
    """The reference: roc_auc_score on the duplicated rows of every resample (NaN if one class only)."""
    out = np.full((n_boot, y.shape[1]), np.nan)
    counts = np.concatenate(list(resample_counts(len(y), n_boot, seed)))
    for b, c in np.ndindex(out.shape):
        rows = np.repeat(np.arange(len(y)), counts[b])
        if np.unique(y[rows, c]).size == 2:
            out[b, c] = roc_auc_score(y[rows, c], s[rows, c])
    return out


def test_resamples_are_those_of_the_per_resample_loop():
    rng = np.random.default_rng(4)
    want = np.stack([np.bincount(rng.integers(0, 30, size=30), minlength=30) for _ in range(11)])
    np.testing.assert_array_equal(np.concatenate(list(resample_counts(30, 11, 4, block=3))), want)


def _tied(n, k, seed, levels=5):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    s = np.round(rng.random((n, k)) * levels + y, 0) / levels  # few distinct values: many ties
    return y, s


def test_hand_case_with_ties():
    y, s = np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.2, 0.8])
    # pos 0.5: tie with neg 0.5 (½) + above 0.2 (1); pos 0.8: above both (2) -> 3.5 / 4
    w = np.array([[1.0, 1, 1, 1], [1, 2, 0, 1], [1, 0, 1, 0]])
    got = weighted_auc(y, s, w)
    assert got[0] == 0.875
    assert got[1] == pytest.approx(2 / 3)  # pos weights 2 (tie, ½ × 1) and 1 (above 1): (1 + 1) / (3 × 1)
    assert np.isnan(got[2])  # no positive weight left


def test_all_tied_scores_give_one_half():
    y = np.array([0, 1, 1, 0, 1])
    assert weighted_auc(y, np.full(5, 0.3), np.ones((1, 5)))[0] == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_equals_sklearn_on_duplicated_rows(seed):
    y, s = _tied(40, 1, seed)
    counts = next(resample_counts(40, 6, seed))
    got = weighted_auc(y[:, 0], s[:, 0], counts)
    for b in range(6):
        rows = np.repeat(np.arange(40), counts[b].astype(int))
        assert got[b] == pytest.approx(roc_auc_score(y[rows, 0], s[rows, 0]), abs=1e-12)
        assert got[b] == pytest.approx(roc_auc_score(y[:, 0], s[:, 0], sample_weight=counts[b]), abs=1e-12)


def test_bootstrap_equals_sklearn_loop_same_resamples():
    y, s = _tied(60, 3, 7)
    ref = _sklearn_per_resample(y, s, 40, seed=11)
    got = bootstrap_aucs(y, s, n_boot=40, seed=11, block=7)  # blocks do not change the draws
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_models_share_resamples_and_shapes():
    y, s = _tied(50, 2, 3)
    s2 = np.roll(s, 1, axis=0)
    both = bootstrap_aucs(y, np.stack([s, s2]), n_boot=9, seed=5)
    assert both.shape == (2, 9, 2)
    np.testing.assert_array_equal(both[1], bootstrap_aucs(y, s2, n_boot=9, seed=5))
    with pytest.raises(ValueError, match="do not fit"):
        bootstrap_aucs(y, s[:, :1], n_boot=3)


def test_degenerate_resamples_are_nan_and_counted():
    y = np.zeros((12, 2), int)
    y[0, 0] = 1  # one positive in 12: many resamples miss it
    rng = np.random.default_rng(0)
    y[:, 1] = rng.random(12) < 0.5
    s = rng.random((12, 2))
    samples = bootstrap_aucs(y, s, n_boot=60, seed=0)
    ref = _sklearn_per_resample(y, s, 60, seed=0)
    np.testing.assert_array_equal(np.isnan(samples), np.isnan(ref))
    missed = int(np.isnan(samples[:, 0]).sum())
    assert 0 < missed < 60
    table = auc_table(y, s, ["a", "b"], n_boot=60, seed=0)
    assert table.loc[0, "n_boot_valid"] == 60 - missed
    assert table.loc[2, "n_boot_valid"] == 60  # the mean is defined when any class is


def test_class_never_defined_gives_nan_ci_without_crash():
    y, s = _tied(30, 2, 0)
    y[:, 1] = 0
    with pytest.warns(RuntimeWarning, match="AUC undefined"):
        table = auc_table(y, s, ["a", "b"], n_boot=20, seed=0)
    assert np.isnan(table.loc[1, "ci_low"]) and table.loc[1, "n_boot_valid"] == 0
    assert table.loc[2, "ci_low"] == pytest.approx(table.loc[0, "ci_low"])  # mean over the one defined class


def test_paired_difference_of_identical_models_is_zero():
    y, s = _tied(80, 3, 4)
    samples = bootstrap_aucs(y, s, 50, seed=2)
    point = auc_table(y, s, list("abc"))["auc"].to_numpy()[:3]
    d = paired_difference(point, point, samples, samples)
    assert np.all(d["diff"] == 0) and np.all(d["ci_low"] == 0) and np.all(d["ci_high"] == 0)
    assert d["n_valid"].tolist() == [50] * 4


def test_paired_difference_matches_hand_computation():
    y, s = _tied(80, 3, 4)
    rng = np.random.default_rng(9)
    s_b = s + 0.4 * rng.random(s.shape)
    sa, sb = bootstrap_aucs(y, np.stack([s, s_b]), 100, seed=3)
    pa = np.array([roc_auc_score(y[:, c], s[:, c]) for c in range(3)])
    pb = np.array([roc_auc_score(y[:, c], s_b[:, c]) for c in range(3)])
    d = paired_difference(pa, pb, sa, sb)
    assert d["diff"][:3] == pytest.approx(pa - pb) and d["diff"][3] == pytest.approx(pa.mean() - pb.mean())
    mean_diff = sa.mean(axis=1) - sb.mean(axis=1)
    assert d["ci_low"][3] == pytest.approx(np.quantile(mean_diff, 0.025))
    assert d["ci_high"][1] == pytest.approx(np.quantile(sa[:, 1] - sb[:, 1], 0.975))
    # paired intervals are narrower than the naive difference of unpaired intervals
    unpaired = (np.quantile(sa[:, 0], 0.975) - np.quantile(sb[:, 0], 0.025)) - (
        np.quantile(sa[:, 0], 0.025) - np.quantile(sb[:, 0], 0.975))
    assert d["ci_high"][0] - d["ci_low"][0] < unpaired
    with pytest.raises(ValueError, match="same resamples"):
        paired_difference(pa, pb, sa, sb[:5])
