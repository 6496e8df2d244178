"""Scoring a severity table against hand-annotated gold (``report_id, label, status, severity``).

Status is scored as set precision/recall/F1 of (report, label, status) triples, so a wrong status
counts once as a false positive and once as a false negative. Pair F1 scores the (report, label)
pairs whatever their status (was the label mentioned at all). Per-status F1 treats each status as a
class over the union of gold and predicted pairs (a pair missing on one side is class ``absent``);
the status macro-F1 averages positive, negative and uncertain. Severity accuracy is measured over the
(report, label) pairs that both gold and prediction call positive.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.metrics import f1_score

from agcl.errors import InputError

GOLD_COLUMNS = ["report_id", "label", "status", "severity"]
STATUSES = ("positive", "negative", "uncertain")


def load_gold(path: str | Path) -> pd.DataFrame:
    """Read a gold CSV and check its columns and values."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in GOLD_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}")
    bad = df[~df["status"].isin(["positive", "negative", "uncertain"])
             | ~df["severity"].isin(["none", "mild", "moderate", "severe"])]
    if not bad.empty:
        raise InputError(f"{path}: row {int(bad.index[0]) + 2}: bad status/severity")
    if df.duplicated(["report_id", "label"]).any():
        raise InputError(f"{path}: duplicate (report_id, label) rows")
    return df


def score(table: pd.DataFrame, gold: pd.DataFrame) -> dict[str, float | int]:
    """Precision/recall/F1 of (report, label, status) and severity accuracy on shared positives.

    ``table`` is a report-level severity table (``id, label, status, severity``); only its reports
    present in ``gold`` are scored (a gold report without findings has no rows, so the set of scored
    reports is given by ``gold['report_id']`` together with reports listed in ``table``).
    """
    ids = set(gold["report_id"])
    pred = table[table["id"].astype(str).isin(ids)]
    g = {(r.report_id, r.label): (r.status, r.severity) for r in gold.itertuples()}
    p = {(str(r.id), r.label): (r.status, r.severity) for r in pred.itertuples()}
    gs = {(k, v[0]) for k, v in g.items()}
    ps = {(k, v[0]) for k, v in p.items()}
    tp = len(gs & ps)
    precision = tp / len(ps) if ps else float("nan")
    recall = tp / len(gs) if gs else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    both = [k for k, v in g.items() if v[0] == "positive" and p.get(k, ("",))[0] == "positive"]
    correct = sum(g[k][1] == p[k][1] for k in both)
    pairs = sorted(set(g) | set(p))
    y_gold = [g.get(k, ("absent",))[0] for k in pairs]
    y_pred = [p.get(k, ("absent",))[0] for k in pairs]
    per_status = f1_score(y_gold, y_pred, labels=list(STATUSES), average=None, zero_division=0.0)
    shared = len(set(g) & set(p))
    return {
        "reports": len(ids), "gold_rows": len(gs), "predicted_rows": len(ps), "true_positives": tp,
        "precision": precision, "recall": recall, "f1": f1,
        "pair_f1": 2 * shared / (len(g) + len(p)) if g or p else float("nan"),
        **{f"f1_{name}": float(v) for name, v in zip(STATUSES, per_status, strict=True)},
        "status_macro_f1": float(per_status.mean()),
        "severity_pairs": len(both), "severity_correct": correct,
        "severity_accuracy": correct / len(both) if both else float("nan"),
    }


def disagreements(table: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """Rows where prediction and gold differ in status, or in severity of a shared positive."""
    ids = set(gold["report_id"])
    pred = table[table["id"].astype(str).isin(ids)].rename(columns={"id": "report_id"})
    m = gold.merge(pred.astype({"report_id": str}), on=["report_id", "label"], how="outer",
                   suffixes=("_gold", "_pred"))
    diff = (m["status_gold"] != m["status_pred"]) | (
        (m["status_gold"] == "positive") & (m["severity_gold"] != m["severity_pred"]))
    return m[diff].reset_index(drop=True)
