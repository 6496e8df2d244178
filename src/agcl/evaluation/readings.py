"""Paired differences as a table and as one plain line each (docs/evaluation.md, "Paired differences").

A difference whose confidence interval excludes 0 reads as a gain or a loss, with its numbers; one whose
interval includes 0 reads "within noise". With several training seeds, a gain or loss that not every
seed shows on its own says so ("2 of 3 seeds"): the interval covers test-image sampling, not the
spread between seeds. Nothing else is inferred: the line does not say whether a difference matters.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from agcl.evaluation.paired import METRICS

#: How each metric is named in a reading ("+0.013 AUC").
METRIC_NAMES = {"auc": "AUC", "recall": "recall", "precision": "precision", "pointing": "pointing"}
MINUS = "\u2212"


def signed(value: float, digits: int = 3) -> str:
    """``+0.013`` / ``−0.031`` (a true minus sign); ``nan`` for NaN."""
    if value is None or math.isnan(value):
        return "nan"
    text = f"{value:+.{digits}f}"
    return text.replace("-", MINUS)


def verdict(lo: float, hi: float) -> str:
    """``gain`` (CI above 0), ``loss`` (below 0), ``noise`` (includes 0) or ``undefined`` (NaN)."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "undefined"
    if lo > 0:
        return "gain"
    if hi < 0:
        return "loss"
    return "noise"


def paired_rows(model: str, reference: str, diff: dict, seeds: list[int], settings: dict) -> pd.DataFrame:
    """One row per metric: model, reference, metric, diff, ci_low, ci_high, verdict, n_boot_valid, seeds,
    ``seed_<k>`` (each seed's own difference), then the ``settings`` columns.

    ``diff`` is :func:`agcl.evaluation.paired.difference`'s result.
    """
    rows = []
    for i, metric in enumerate(METRICS):
        lo, hi = float(diff["lo"][i]), float(diff["hi"][i])
        row = {"model": model, "reference": reference, "metric": metric, "diff": float(diff["point"][i]),
               "ci_low": lo, "ci_high": hi, "verdict": verdict(lo, hi), "n_boot_valid": int(diff["n_valid"][i]),
               "seeds": len(seeds)}
        row.update({f"seed_{s}": float(np.asarray(diff["per_seed"])[j, i]) for j, s in enumerate(seeds)})
        rows.append({**row, **settings})
    return pd.DataFrame(rows)


def reading(model: str, reference: str, rows: pd.DataFrame, digits: int = 3) -> str:
    """One line for ``model − reference`` from its :func:`paired_rows`, e.g.
    ``AGCL-2 − BSL+: +0.013 AUC [+0.006, +0.021]; recall, precision and pointing within noise``."""
    said, quiet, missing = [], [], []
    seed_cols = [c for c in rows.columns if c.startswith("seed_")]
    for r in rows.itertuples(index=False):
        name = METRIC_NAMES.get(r.metric, r.metric)
        if r.verdict in ("gain", "loss"):
            text = f"{signed(r.diff, digits)} {name} [{signed(r.ci_low, digits)}, {signed(r.ci_high, digits)}]"
            per_seed = np.array([getattr(r, c) for c in seed_cols], float)
            agree = int(np.sum(per_seed > 0) if r.verdict == "gain" else np.sum(per_seed < 0))
            said.append(text + (f" ({agree} of {len(per_seed)} seeds)" if agree < len(per_seed) else ""))
        elif r.verdict == "noise":
            quiet.append(name)
        else:
            missing.append(name)
    parts = said + ([f"{_join(quiet)} within noise"] if quiet else []) + ([f"{_join(missing)} not measured"]
                                                                         if missing else [])
    return f"{model} {MINUS} {reference}: " + "; ".join(parts)


def readings(paired: pd.DataFrame, digits: int = 3) -> list[str]:
    """:func:`reading` of every (model, reference) pair of a paired table, in table order."""
    keys = list(dict.fromkeys(zip(paired["model"], paired["reference"], strict=True)))
    return [reading(m, r, paired[(paired["model"] == m) & (paired["reference"] == r)], digits) for m, r in keys]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def paired_table(y: np.ndarray, scores: np.ndarray, counts: np.ndarray, names: list[str], seeds: list[int],
                 pairs: list[tuple[str, str]], n_boot: int, boot_seed: int, settings: dict) -> pd.DataFrame:
    """Every ``(model, reference)`` of ``pairs`` as :func:`paired_rows`, all from one set of resamples.

    Args:
        y: test labels [N,K]. scores: [M,S,N,K] probabilities of model m in seed s (``names`` × ``seeds``).
        counts: [M,S,N,6] per-image counts (:data:`agcl.evaluation.paired.COUNTS`).
        settings: columns that name how the numbers were made (generator, t, …); the resample count and
            seed, and the seeds, are added.
    """
    from agcl.evaluation.paired import difference, resample

    m, s = len(names), len(seeds)
    res = resample(y, np.asarray(scores).reshape(m * s, *np.shape(scores)[2:]),
                   np.asarray(counts).reshape(m * s, *np.shape(counts)[2:]), n_boot, boot_seed)
    rows = lambda name: [names.index(name) * s + j for j in range(s)]  # noqa: E731
    tags = {**settings, "resamples": n_boot, "bootstrap_seed": boot_seed, "training_seeds": " ".join(map(str, seeds))}
    frames = [paired_rows(b, a, difference(res, rows(a), rows(b)), seeds, tags) for b, a in pairs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
