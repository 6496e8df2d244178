"""Seed rules of paper §2.3: S1 (severe/moderate), S2 (probability > t), harvesting across rounds.

Pure functions over DataFrames/arrays. The threshold ``t`` is chosen on **validation** scores only
(:func:`choose_threshold` never sees a training or test image); S2 then applies it to training images.

Threshold rules (``SeedRule.rule``):

* ``precision`` (default): the smallest ``t`` whose validation precision (positives of the disease vs
  the validation negatives the scores were computed on) reaches ``target``; ``t`` is placed midway
  between that score level and the next lower validation score. If no threshold reaches it,
  the threshold of maximal precision is used and the caller logs it.
* ``quantile``: ``t`` is the ``target``-quantile of the validation positives' probabilities.
* ``fixed``: ``t = target``.

Whatever the rule, ``t`` is at least ``min_t`` (0.5 by default), since an S2 seed must be *correctly
classified* by its binary network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SEED_COLUMNS = ("image_id", "label", "rule", "iteration", "prob")
S1_GRADES = ("severe", "moderate")


@dataclass(frozen=True)
class SeedRule:
    """How ``t`` is chosen on validation (see module docstring)."""

    rule: str = "precision"
    target: float = 0.9
    min_t: float = 0.5


def choose_threshold(scores: np.ndarray, truth: np.ndarray, rule: SeedRule) -> tuple[float, dict]:
    """Choose the S2 threshold ``t`` from validation scores of one disease.

    Args:
        scores: validation probabilities of the positive class. Shapes: ``[N]`` float in [0,1].
        truth: validation labels. Shapes: ``[N]`` int/bool, 1 = positive.
        rule: the threshold rule.

    Returns:
        ``(t, info)`` where ``info`` records the rule, the validation precision/recall at ``t`` and
        whether the target was reached (for seeds provenance).
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth).astype(bool)
    if scores.shape != truth.shape or scores.ndim != 1:
        raise ValueError("scores and truth must be 1-D arrays of equal length")
    reached = True
    if rule.rule == "fixed":
        t = float(rule.target)
    elif rule.rule == "quantile":
        pos = scores[truth]
        t = float(np.quantile(pos, rule.target)) if pos.size else 1.0
        reached = bool(pos.size)
    elif rule.rule == "precision":
        t, reached = _precision_threshold(scores, truth, rule.target)
    else:
        raise ValueError(f"unknown seed threshold rule {rule.rule!r} (precision|quantile|fixed)")
    t = max(t, rule.min_t)
    sel = scores > t
    tp = int((sel & truth).sum())
    info = {
        "rule": rule.rule,
        "target": rule.target,
        "t": t,
        "target_reached": reached,
        "val_positives": int(truth.sum()),
        "val_negatives": int((~truth).sum()),
        "val_precision": tp / int(sel.sum()) if sel.any() else float("nan"),
        "val_recall": tp / int(truth.sum()) if truth.any() else float("nan"),
    }
    return t, info


def _precision_threshold(scores: np.ndarray, truth: np.ndarray, target: float) -> tuple[float, bool]:
    """Smallest t with precision(scores > t) >= target; else the t of maximal precision."""
    if not truth.any():
        return 1.0, False
    cands = np.unique(scores)  # thresholds just below each distinct score
    order = np.argsort(-scores, kind="stable")
    s_sorted, y_sorted = scores[order], truth[order]
    tp = np.cumsum(y_sorted)
    n_sel = np.arange(1, len(scores) + 1)
    # precision when selecting scores >= s_sorted[i]; group ties by taking the last index of each score
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    prec = (tp / n_sel)[last]
    levels = s_sorted[last]  # descending distinct scores
    ok = prec >= target
    if ok.any():
        # lowest score level that still reaches the target -> t just below it
        return _just_below(cands, float(levels[ok].min())), True
    return _just_below(cands, float(levels[int(np.argmax(prec))])), False


def _just_below(cands: np.ndarray, level: float) -> float:
    """Midpoint between ``level`` and the next lower validation score (0 if none): ``> t`` ⇔ ``>= level``."""
    below = cands[cands < level]
    return (level + float(below.max())) / 2 if below.size else level / 2


def select_s1(grades: pd.Series, label: str, iteration: int) -> pd.DataFrame:
    """S1: positives of ``label`` graded severe or moderate (paper §2.3).

    Args:
        grades: per-positive grades (index = image id), from :func:`agcl.pipeline.curriculum.positive_grades`.
    """
    ids = [str(i) for i in grades.index[grades.isin(S1_GRADES)]]
    return _frame(ids, label, "S1", iteration, [np.nan] * len(ids))


def select_s2(image_ids: Sequence[str], probs: np.ndarray, t: float, label: str, iteration: int,
              rule: str = "S2") -> pd.DataFrame:
    """S2: positives whose positive-class probability exceeds ``t`` (strictly).

    Args:
        image_ids: positives of ``label`` (training split) that are candidates.
        probs: their probabilities. Shapes: ``[N]`` float in [0,1].
        rule: the name written in the ``rule`` column (``S2``; ``AGL`` for baseline-scored seeds).
    """
    probs = np.asarray(probs, dtype=np.float64)
    keep = probs > t
    ids = [str(i) for i, k in zip(image_ids, keep, strict=True) if k]
    return _frame(ids, label, rule, iteration, probs[keep].tolist())


def harvest(previous: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """Add new seeds to the previous ones: a seed never leaves, and keeps its first rule/iteration.

    Args:
        previous: seeds of earlier rounds (``SEED_COLUMNS``).
        candidates: seeds selected this round (S1 ∪ S2 among all positives).

    Returns:
        ``previous`` plus the candidates whose ``(image_id, label)`` is new, sorted by label then id.
    """
    prev = previous if previous is not None else empty_seeds()
    key_prev = set(zip(prev["image_id"].astype(str), prev["label"], strict=True))
    mask = [(str(i), lab) not in key_prev for i, lab in zip(candidates["image_id"], candidates["label"], strict=True)]
    out = pd.concat([prev, candidates[mask]], ignore_index=True)
    return sort_seeds(out)


def union(*frames: pd.DataFrame) -> pd.DataFrame:
    """S = S1 ∪ S2 ∪ …: first occurrence of each ``(image_id, label)`` wins (S1 before S2)."""
    out = pd.concat([f for f in frames if f is not None and len(f)] or [empty_seeds()], ignore_index=True)
    out = out.drop_duplicates(subset=["image_id", "label"], keep="first")
    return sort_seeds(out)


def sort_seeds(seeds: pd.DataFrame) -> pd.DataFrame:
    return seeds.sort_values(["label", "image_id"], kind="stable").reset_index(drop=True)[list(SEED_COLUMNS)]


def empty_seeds() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c in ("image_id", "label", "rule") else float)
                         for c in SEED_COLUMNS}).astype({"iteration": int})


def _frame(ids: list[str], label: str, rule: str, iteration: int, probs: Sequence[float]) -> pd.DataFrame:
    return pd.DataFrame({
        "image_id": pd.Series(ids, dtype=object),
        "label": pd.Series([label] * len(ids), dtype=object),
        "rule": pd.Series([rule] * len(ids), dtype=object),
        "iteration": pd.Series([int(iteration)] * len(ids), dtype=int),
        "prob": pd.Series(list(probs), dtype=float),
    })
