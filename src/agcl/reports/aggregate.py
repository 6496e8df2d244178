"""Report-level severity table from mentions, and its join to images (AGCL §2.2 curriculum input).

Per report and label: positive beats uncertain, which beats negative; the severity is the most
severe one over the positive mentions; the evidence is the sentence that decided both.
"""

from __future__ import annotations

import pandas as pd

from agcl.errors import InputError
from agcl.labels import LABEL_INDEX
from agcl.reports.lexicon import SEVERITY_RANK

TABLE_COLUMNS = ["id", "label", "status", "severity", "evidence"]
IMAGE_COLUMNS = ["image_id", "label", "status", "severity"]
STATUS_RANK = {"negative": 0, "uncertain": 1, "positive": 2}


def aggregate(mentions: pd.DataFrame) -> pd.DataFrame:
    """Fold a mention table into one row per (id, label): ``id, label, status, severity, evidence``.

    Rows keep the order in which reports first appear; labels follow ``agcl.labels.LABELS``. The input
    is not modified.
    """
    if mentions.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    df = mentions.loc[:, ["id", "label", "status", "severity", "evidence"]].copy()
    df["_order"] = pd.factorize(df["id"])[0]
    df["_label"] = df["label"].map(LABEL_INDEX)
    df["_status"] = df["status"].map(STATUS_RANK)
    df["_sev"] = df["severity"].map(SEVERITY_RANK).where(df["status"] == "positive", 0)
    df["_pos"] = range(len(df))
    df = df.sort_values(["_order", "_label", "_status", "_sev", "_pos"],
                        ascending=[True, True, False, False, True], kind="stable")
    best = df.drop_duplicates(["_order", "_label"], keep="first")
    return best.loc[:, TABLE_COLUMNS].reset_index(drop=True)


def join_images(table: pd.DataFrame, mapping: pd.DataFrame, *, report_col: str = "report_id",
                image_col: str = "image_id", source: str = "mapping") -> pd.DataFrame:
    """Join a report-level table to images: ``image_id, label, status, severity`` (one report → many images).

    Raises:
        InputError: ``mapping`` lacks a column, or maps one image to two reports.
    """
    for col in (report_col, image_col):
        if col not in mapping.columns:
            raise InputError(f"{source}: missing column {col!r} (columns: {', '.join(map(str, mapping.columns))})")
    m = mapping.loc[:, [report_col, image_col]].astype(str).drop_duplicates()
    dup = m[m.duplicated(image_col, keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        raise InputError(f"{source}: image {first[image_col]!r} is mapped to more than one report "
                         f"(row {int(dup.index[0]) + 2})")
    t = table.assign(id=table["id"].astype(str))
    out = t.merge(m, left_on="id", right_on=report_col, how="inner")
    return out.loc[:, IMAGE_COLUMNS].reset_index(drop=True)
