"""Table 1 AUC: sklearn semantics, NaN + warning on a degenerate class, seeded bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from agcl.evaluation.auc import auc_table, per_class_auc


def _data(n=300, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    s = rng.random((n, k)) + 0.5 * y
    return y, s


def test_matches_sklearn_and_mean():
    y, s = _data()
    y_copy, s_copy = y.copy(), s.copy()
    table = auc_table(y, s, ["a", "b", "c", "d"])
    for k in range(4):
        assert table.loc[k, "auc"] == pytest.approx(roc_auc_score(y[:, k], s[:, k]))
    assert table.loc[4, "label"] == "Mean" and table.loc[4, "n_classes"] == 4
    assert table.loc[4, "auc"] == pytest.approx(np.mean([roc_auc_score(y[:, k], s[:, k]) for k in range(4)]))
    assert np.array_equal(y, y_copy) and np.array_equal(s, s_copy)


def test_degenerate_class_nan_warning_and_mask():
    y, s = _data()
    y[:, 1] = 0
    with pytest.warns(RuntimeWarning, match="AUC undefined for b"):
        table = auc_table(y, s, ["a", "b", "c", "d"])
    assert np.isnan(table.loc[1, "auc"]) and table.loc[4, "n_classes"] == 3
    assert table.loc[4, "auc"] == pytest.approx(table.loc[[0, 2, 3], "auc"].mean())
    mask = np.ones_like(y)
    mask[:150, 0] = 0
    with pytest.warns(RuntimeWarning):
        masked = per_class_auc(y, s, ["a", "b", "c", "d"], mask)
    assert masked.loc[0, "auc"] == pytest.approx(roc_auc_score(y[150:, 0], s[150:, 0]))


def test_bootstrap_seeded_and_brackets_estimate():
    y, s = _data(n=200, k=2)
    a = auc_table(y, s, ["a", "b"], n_boot=25, seed=1)
    b = auc_table(y, s, ["a", "b"], n_boot=25, seed=1)
    assert a.equals(b)
    assert (a["ci_low"] <= a["auc"]).all() and (a["auc"] <= a["ci_high"]).all()
    assert (a["ci_high"] - a["ci_low"] > 0).all()
