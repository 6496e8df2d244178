"""Seed rules of paper §2.3 (S1, S2, AGL, harvesting) and the threshold choice on validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agcl.pipeline.seeds import SeedRule, choose_threshold, harvest, select_s1, select_s2, union


@pytest.mark.parametrize(
    ("scores", "truth", "rule", "t", "reached"),
    [
        # precision 1.0 reached by selecting the two top positives: t between 0.8 and 0.7
        ([0.9, 0.8, 0.7, 0.6, 0.2], [1, 1, 0, 1, 0], SeedRule("precision", 1.0, 0.0), 0.75, True),
        # precision >= 0.75 reached at 0.6 level (3 of 4 selected positives)
        ([0.9, 0.8, 0.7, 0.6, 0.2], [1, 1, 0, 1, 0], SeedRule("precision", 0.75, 0.0), 0.4, True),
        # the min_t floor: correctly classified means p > 0.5
        ([0.9, 0.8, 0.7, 0.6, 0.2], [1, 1, 0, 1, 0], SeedRule("precision", 0.75, 0.5), 0.5, True),
        # unreachable target: threshold of maximal precision, flagged
        ([0.9, 0.8, 0.7], [0, 1, 1], SeedRule("precision", 0.95, 0.0), 0.35, False),
        ([0.2, 0.4, 0.6, 0.8, 0.1], [1, 1, 1, 1, 0], SeedRule("quantile", 0.5, 0.0), 0.5, True),
        ([0.2, 0.9], [1, 0], SeedRule("fixed", 0.7, 0.5), 0.7, True),
    ],
)
def test_choose_threshold(scores, truth, rule, t, reached):
    got, info = choose_threshold(np.array(scores), np.array(truth), rule)
    assert got == pytest.approx(t)
    assert info["target_reached"] is reached
    assert info["val_positives"] == sum(truth)


def test_choose_threshold_precision_is_met_at_t():
    rng = np.random.default_rng(0)
    truth = rng.random(300) < 0.5
    scores = np.clip(truth * 0.3 + rng.random(300) * 0.7, 0, 1)
    t, info = choose_threshold(scores, truth, SeedRule("precision", 0.9, 0.0))
    sel = scores > t
    assert info["target_reached"] and (truth[sel].mean() >= 0.9)
    # t is the lowest such level: selecting one more score level breaks the target
    nxt = scores[scores <= t].max()
    assert truth[scores >= nxt].mean() < 0.9


def test_choose_threshold_bad_rule():
    with pytest.raises(ValueError):
        choose_threshold(np.array([0.1]), np.array([1]), SeedRule("median"))


def test_s1_severe_and_moderate_only():
    grades = pd.Series({"a": "severe", "b": "moderate", "c": "mild", "d": "none"})
    s1 = select_s1(grades, "Effusion", 1)
    assert sorted(s1.image_id) == ["a", "b"]
    assert set(s1.rule) == {"S1"} and set(s1.iteration) == {1} and s1.prob.isna().all()


def test_s2_strictly_above_t():
    s2 = select_s2(["a", "b", "c"], np.array([0.9, 0.8, 0.95]), 0.8, "Mass", 2)
    assert list(s2.image_id) == ["a", "c"] and list(s2.prob) == [0.9, 0.95]
    agl = select_s2(["a"], np.array([0.99]), 0.5, "Mass", 1, rule="AGL")
    assert list(agl.rule) == ["AGL"]


def test_union_prefers_s1_and_harvest_keeps_old_seeds():
    s1 = select_s1(pd.Series({"a": "severe"}), "Mass", 1)
    s2 = select_s2(["a", "b"], np.array([0.9, 0.9]), 0.5, "Mass", 1)
    r1 = union(s1, s2)
    assert list(zip(r1.image_id, r1.rule, strict=True)) == [("a", "S1"), ("b", "S2")]
    new = union(select_s2(["b", "c"], np.array([0.99, 0.97]), 0.5, "Mass", 2))
    r2 = harvest(r1, new)
    assert list(zip(r2.image_id, r2.rule, r2.iteration, strict=True)) == [
        ("a", "S1", 1), ("b", "S2", 1), ("c", "S2", 2)]
    assert len(r1) == 2  # inputs not mutated
