"""The phantom's reports mined back: agreement with truth/mentions.csv (what each report states)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from agcl.reports.aggregate import aggregate
from agcl.reports.mining import ReportMiner
from agcl.reports.readers import read_csv_reports


def test_phantom_reports_round_trip(tiny_phantom: Path, miner: ReportMiner) -> None:
    reports = read_csv_reports(tiny_phantom / "reports.csv", id_col="image_id", text_col="report")
    table = aggregate(miner.mine(reports.reports)).rename(columns={"id": "image_id"})
    truth = pd.read_csv(tiny_phantom / "truth" / "mentions.csv", dtype=str, keep_default_na=False)
    keys = ["image_id", "label"]
    merged = truth.merge(table, on=keys, how="outer", suffixes=("_true", "_mined"), indicator=True)
    status_ok = (merged["status_true"] == merged["status_mined"]).mean()
    positives = merged[(merged["status_true"] == "positive") & (merged["status_mined"] == "positive")]
    severity_ok = (positives["severity_true"] == positives["severity_mined"]).mean()
    bad = merged[(merged["status_true"] != merged["status_mined"])
                 | ((merged["status_true"] == "positive") & (merged["severity_true"] != merged["severity_mined"]))]
    assert status_ok >= 0.99, f"agreement {status_ok:.3f}\n" + bad.head(10).to_string()
    assert len(positives) > 20 and severity_ok >= 0.99, bad.head(10).to_string()
