"""Import third-party per-image severity annotations into agcl's image-level severity format.

ChestX-ray14's reports were never released, so users of that dataset bring severity from elsewhere
(AGCL §2.2 needs it only for positive findings: the curriculum order and the S1 seeds). Accepted
input: a CSV with an image column (``image_id`` or ``Image Index``), a label column (``label`` or
``Finding Label``; aliases such as ``Infiltrate`` are accepted) and a ``severity`` column holding
mild/moderate/severe or 1/2/3. Output: ``image_id, label, status, severity`` with status positive.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from agcl.errors import InputError
from agcl.labels import LABEL_INDEX, UnknownLabelError, canonical_label
from agcl.paths import regular_file
from agcl.reports.aggregate import IMAGE_COLUMNS
from agcl.reports.lexicon import SEVERITY_RANK

log = logging.getLogger(__name__)

IMAGE_COLS = ("image_id", "Image Index", "image", "Image")
LABEL_COLS = ("label", "Finding Label", "finding", "Label")
SEVERITY_CODES = {"1": "mild", "2": "moderate", "3": "severe", "mild": "mild", "moderate": "moderate",
                  "severe": "severe", "1.0": "mild", "2.0": "moderate", "3.0": "severe"}


def _pick(df: pd.DataFrame, names: tuple[str, ...], path: Path, what: str) -> str:
    for name in names:
        if name in df.columns:
            return name
    raise InputError(f"{path}: missing {what} column (one of {', '.join(names)}; columns: {', '.join(df.columns)})")


def import_severity(path: str | Path) -> pd.DataFrame:
    """Read an external per-image severity file into ``image_id, label, status, severity`` rows.

    Several rows for one (image, label) keep the most severe one, with a warning.

    Raises:
        InputError: unreadable file, missing column, unknown label or severity (naming the row).
    """
    path = Path(path)
    regular_file(path, "severity file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read severity file {path}: {str(exc).splitlines()[0]}") from None
    icol = _pick(df, IMAGE_COLS, path, "image")
    lcol = _pick(df, LABEL_COLS, path, "label")
    scol = next((c for c in df.columns if c.strip().lower() == "severity"), None)  # "Severity" is fine too
    if scol is None:
        raise InputError(f"{path}: missing column 'severity' (columns: {', '.join(df.columns)})")
    rows = []
    for row, (image, label, sev) in enumerate(zip(df[icol], df[lcol], df[scol], strict=True), start=2):
        if not image.strip():
            raise InputError(f"{path}: row {row}: empty image id")
        try:
            name = canonical_label(label, where=f"{path}: row {row}")
        except UnknownLabelError as exc:
            raise InputError(str(exc)) from None
        level = SEVERITY_CODES.get(sev.strip().lower())
        if level is None:
            raise InputError(f"{path}: row {row}: severity {sev!r} is not mild/moderate/severe or 1/2/3")
        rows.append((image.strip(), name, "positive", level))
    out = pd.DataFrame(rows, columns=IMAGE_COLUMNS)
    if out.empty:
        return out
    out["_rank"] = out["severity"].map(SEVERITY_RANK)
    out["_label"] = out["label"].map(LABEL_INDEX)
    dup = out.duplicated(["image_id", "label"], keep=False)
    if dup.any():
        log.warning("%s: %d rows repeat an (image, label) pair; keeping the most severe",
                    path, int(dup.sum()))
    out = out.sort_values(["image_id", "_label", "_rank"], ascending=[True, True, False], kind="stable")
    out = out.drop_duplicates(["image_id", "label"], keep="first")
    return out.loc[:, IMAGE_COLUMNS].reset_index(drop=True)
