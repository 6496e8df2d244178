"""Table-driven tests of the severity curriculum (paper §2.2)."""

from __future__ import annotations

import pandas as pd
import pytest

from agcl.pipeline.curriculum import (
    balanced_negatives,
    build_stages,
    positive_grades,
    stage_at,
)


def _sev(rows):
    return pd.DataFrame(rows, columns=["image_id", "label", "status", "severity"])


SEV = _sev([
    ("a", "Effusion", "positive", "severe"),
    ("b", "Effusion", "positive", "moderate"),
    ("c", "Effusion", "positive", "mild"),
    ("c", "Effusion", "positive", "severe"),     # two mentions: most severe wins
    ("d", "Effusion", "negative", "severe"),     # negated mention: ignored
    ("e", "Effusion", "uncertain", "moderate"),  # uncertain: ignored
    ("f", "Mass", "positive", "severe"),         # other label: ignored
    ("g", "Effusion", "positive", "none"),       # positive without grade
    ("h", "Effusion", "positive", "mild"),
])


def test_positive_grades_rules():
    g = positive_grades(["a", "b", "c", "d", "e", "f", "g", "h", "i"], SEV, "Effusion")
    assert g.to_dict() == {"a": "severe", "b": "moderate", "c": "severe", "d": "none", "e": "none",
                           "f": "none", "g": "none", "h": "mild", "i": "none"}


def test_positive_grades_without_table():
    assert set(positive_grades(["x", "y"], None, "Mass")) == {"none"}


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        # full curriculum, cumulative, ungraded last
        ({"a": "severe", "b": "moderate", "c": "mild", "d": "none"},
         [("severe",), ("severe", "moderate"), ("severe", "moderate", "mild"),
          ("severe", "moderate", "mild", "none")]),
        # missing grade is skipped, no ungraded stage when all are graded
        ({"a": "mild", "b": "severe"}, [("severe",), ("severe", "mild")]),
        # nothing graded: one stage with everything
        ({"a": "none", "b": "none"}, [("none",)]),
    ],
)
def test_build_stages_order(grades, expected):
    stages = build_stages(pd.Series(grades))
    assert [s.grades for s in stages] == expected
    assert set(stages[-1].positives) == set(grades)  # last stage covers all positives
    for early, late in zip(stages, stages[1:], strict=False):
        assert set(early.positives) < set(late.positives)  # strictly cumulative


def test_stage_members():
    stages = build_stages(pd.Series({"a": "severe", "b": "moderate", "c": "mild", "d": "severe"}))
    assert [sorted(s.positives) for s in stages] == [["a", "d"], ["a", "b", "d"], ["a", "b", "c", "d"]]


def test_build_stages_empty():
    assert build_stages(pd.Series(dtype=object)) == []


def test_balanced_negatives_seeded_nested_and_order_free():
    pool = [f"n{i}" for i in range(50)]
    a = balanced_negatives(pool, 10, seed=3)
    assert len(a) == 10 == len(set(a)) and set(a) <= set(pool)
    assert a == balanced_negatives(list(reversed(pool)), 10, seed=3)  # caller order does not matter
    assert balanced_negatives(pool, 20, seed=3)[:10] == a  # stages nest
    assert a != balanced_negatives(pool, 10, seed=4)
    assert len(balanced_negatives(pool, 80, seed=0)) == 50  # capped
    assert balanced_negatives(pool, 0, seed=0) == []


@pytest.mark.parametrize(
    ("epoch", "per", "n", "stage"),
    [(0, 1, 3, 0), (1, 1, 3, 1), (2, 1, 3, 2), (7, 1, 3, 2), (0, 2, 3, 0), (1, 2, 3, 0), (2, 2, 3, 1),
     (5, 2, 3, 2), (9, 2, 1, 0)],
)
def test_stage_at(epoch, per, n, stage):
    assert stage_at(epoch, per, n) == stage


def test_stage_at_rejects_bad_args():
    with pytest.raises(ValueError):
        stage_at(0, 0, 3)
    with pytest.raises(ValueError):
        stage_at(-1, 1, 3)
