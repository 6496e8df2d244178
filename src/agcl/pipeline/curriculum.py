"""Severity-ordered curriculum for the per-disease binary networks (paper §2.2).

Pure functions only: given the positives of one disease with their mined severity and the pool of
"No Finding" negatives, build the cumulative stages that are fed to the binary network, and say which
stage an epoch belongs to.

Curriculum rule (documented in docs/pipeline.md):

* Stage order is ``severe → moderate → mild`` and stages are **cumulative**: stage 1 trains on severe
  positives, stage 2 on severe + moderate, stage 3 on severe + moderate + mild.
* Positives without a mined severity ("ungraded") join in a last stage after every graded one, so the
  final stage always covers all positives of the disease.
* Grades with no images are skipped (no empty stage is ever trained).
* A disease with no graded positive at all trains on all its positives in a single stage; the caller
  logs this explicitly.
* Negatives are "No Finding" images, balanced to the number of positives of each stage and drawn from
  one seeded permutation, so the negatives of stage ``s`` are a prefix of those of stage ``s + 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Severity grades in curriculum order (easiest first), paper §2.2.
GRADE_ORDER: tuple[str, ...] = ("severe", "moderate", "mild")
UNGRADED = "none"


@dataclass(frozen=True)
class CurriculumStage:
    """One cumulative curriculum stage of one disease.

    Attributes:
        grades: the severity grades whose positives this stage adds up to (cumulative).
        positives: image ids of the positives fed in this stage, in a stable order.
    """

    grades: tuple[str, ...]
    positives: tuple[str, ...]

    @property
    def name(self) -> str:
        return "+".join(self.grades)


def positive_grades(positive_ids: Sequence[str], severity: pd.DataFrame | None, label: str) -> pd.Series:
    """Severity grade of each positive image of ``label`` (``"none"`` when not graded).

    Only rows of the joined severity table with ``status == "positive"`` and a grade in
    :data:`GRADE_ORDER` count. When one image has several graded rows for the label, the most severe
    wins (the report describes the finding at its worst).

    Args:
        positive_ids: image ids labelled positive for ``label`` (from the index, not the table).
        severity: joined table ``image_id, label, status, severity`` or ``None`` (no severity data).
        label: canonical disease label.

    Returns:
        Series indexed by image id (order of ``positive_ids``) with values in GRADE_ORDER or "none".
    """
    grades = pd.Series(UNGRADED, index=pd.Index(list(positive_ids), name="image_id"), dtype=object)
    if severity is None or severity.empty:
        return grades
    rows = severity[
        (severity["label"] == label)
        & (severity["status"] == "positive")
        & (severity["severity"].isin(GRADE_ORDER))
    ]
    if rows.empty:
        return grades
    rank = rows["severity"].map({g: i for i, g in enumerate(GRADE_ORDER)})
    best = rank.groupby(rows["image_id"].astype(str)).min()
    common = grades.index.intersection(best.index)
    grades.loc[common] = [GRADE_ORDER[int(r)] for r in best.loc[common]]
    return grades


def build_stages(grades: pd.Series) -> list[CurriculumStage]:
    """Cumulative curriculum stages from per-positive grades (see module docstring for the rule).

    Args:
        grades: output of :func:`positive_grades` (index = image ids).

    Returns:
        Non-empty list of stages; empty only when there are no positives at all.
    """
    if grades.empty:
        return []
    present = [g for g in GRADE_ORDER if (grades == g).any()]
    if not present:  # no graded positive: one stage with everything
        return [CurriculumStage((UNGRADED,), tuple(grades.index))]
    stages: list[CurriculumStage] = []
    included: list[str] = []
    for grade in present:
        included.append(grade)
        ids = tuple(grades.index[grades.isin(included)])
        stages.append(CurriculumStage(tuple(included), ids))
    if (grades == UNGRADED).any():
        stages.append(CurriculumStage((*included, UNGRADED), tuple(grades.index)))
    return stages


def balanced_negatives(negative_ids: Sequence[str], n: int, seed: int) -> list[str]:
    """Draw ``n`` negatives from one seeded permutation (a prefix, so stages nest).

    Args:
        negative_ids: candidate "No Finding" image ids (order irrelevant: they are sorted first so the
            result does not depend on the caller's row order).
        n: how many to draw; capped at the number of candidates.
        seed: RNG seed (``numpy.random.default_rng``).

    Returns:
        List of at most ``n`` ids.
    """
    pool = np.array(sorted(str(i) for i in negative_ids), dtype=object)
    order = np.random.default_rng(seed).permutation(len(pool))
    return [str(x) for x in pool[order[: max(0, min(n, len(pool)))]]]


def stage_at(epoch: int, epochs_per_stage: int, n_stages: int) -> int:
    """Stage index (0-based) of a 0-based ``epoch`` in the fixed-epochs schedule.

    The last stage absorbs every epoch past the schedule.
    """
    if epochs_per_stage < 1 or n_stages < 1:
        raise ValueError("epochs_per_stage and n_stages must be >= 1")
    if epoch < 0:
        raise ValueError("epoch must be >= 0")
    return min(epoch // epochs_per_stage, n_stages - 1)
