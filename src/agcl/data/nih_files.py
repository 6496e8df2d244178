"""Readers for the files of the NIH ChestX-ray14 layout, quirks included.

``Data_Entry_2017*.csv`` (2017: CRLF, trailing comma, ages like ``058Y``; v2020: unsorted, unpadded ids),
``BBox_List_2017.csv`` (header of 9 fields against rows of 6, ``Infiltrate``), the split lists (no
trailing newline) and split CSVs. Header names with commas (``OriginalImage[Width,Height]``) are split
into one column per field. Every problem is an :class:`InputError` naming the file and line.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.data.fields import (
    by_unique,
    label_matrix,
    line_of,
    parse_ages,
    reject_bad_boxes,
    strip_text,
    whole_numbers,
)
from agcl.data.index import normalize_patient_ids
from agcl.errors import InputError
from agcl.labels import LABELS, UnknownLabelError, canonical_label
from agcl.paths import read_text

log = logging.getLogger(__name__)


def physical_columns(header_line: str) -> list[str]:
    """Field names of a CSV header whose names may contain bracketed commas.

    ``OriginalImage[Width,Height]`` becomes ``OriginalImage[Width]``, ``OriginalImage[Height]``;
    ``Bbox [x,y,w,h]`` four fields; empty trailing names become ``_empty<i>``.
    """
    names: list[str] = []
    for k, token in enumerate(re.split(r",(?![^\[]*\])", header_line.rstrip("\r\n"))):
        token = token.strip().strip('"')
        m = re.fullmatch(r"(.*?)\s*\[([^\]]*)\]", token)
        if m and "," in m.group(2):
            names.extend(f"{m.group(1)}[{part.strip()}]" for part in m.group(2).split(","))
        else:
            names.append(token or f"_empty{k}")
    return names


def read_utf8(path: Path) -> str:
    """The text of a UTF-8 file (BOM allowed); unreadable or undecodable -> InputError naming the line."""
    return read_text(path)


def _read_raw(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """All fields as strings, named by :func:`physical_columns`; parse problems -> InputError."""
    text = read_utf8(path)
    header = text.split("\n", 1)[0]
    if not header.strip():
        raise InputError(f"{path}: empty file (no header line)")
    names = physical_columns(header)
    try:
        frame = pd.read_csv(io.StringIO(text), header=None, skiprows=1, names=names, dtype=str,
                            keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: malformed CSV ({str(exc).strip().splitlines()[-1]})") from None
    return frame.fillna(""), names


def _pick(frame: pd.DataFrame, wanted: str, path: Path, required: bool = True) -> pd.Series | None:
    key = wanted.lower().replace(" ", "")
    for col in frame.columns:
        if col.lower().replace(" ", "") == key:
            return strip_text(frame[col])
    if required:
        raise InputError(f"{path}: missing column {wanted!r} (header: {', '.join(frame.columns)})")
    return None


def read_data_entry(path: str | Path) -> pd.DataFrame:
    """Read ``Data_Entry_2017*.csv`` into index columns (labels parsed, ids normalised, ages in years).

    Returns a frame with ``image_id, patient_id, follow_up, age, sex, view, meta_w, meta_h``, the 14
    label columns and ``no_finding``, in file order (with ``line`` = 1-based file line).
    """
    path = Path(path)
    raw, _ = _read_raw(path)
    image_id = _pick(raw, "Image Index", path)
    labels_field = _pick(raw, "Finding Labels", path)
    patient = _pick(raw, "Patient ID", path)
    assert image_id is not None and labels_field is not None and patient is not None
    if raw.empty:
        raise InputError(f"{path}: no data rows (only a header); it lists no image")
    blank = image_id.eq("")
    if blank.any():
        raise InputError(f"{path} line {line_of(int(np.flatnonzero(blank)[0]))}: empty 'Image Index'")
    blank = patient.eq("")
    if blank.any():
        raise InputError(f"{path} line {line_of(int(np.flatnonzero(blank)[0]))}: empty 'Patient ID'")
    dup = image_id.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(image_id.eq(image_id.iloc[pos]))[0])
        raise InputError(f"{path} line {line_of(pos)}: duplicate image id {image_id.iloc[pos]!r} "
                         f"(first on line {line_of(first)})")
    labels, no_finding = label_matrix(labels_field, str(path))
    out = pd.DataFrame({"image_id": image_id, "patient_id": normalize_patient_ids(patient)})

    def numeric(name: str) -> pd.Series:
        col = _pick(raw, name, path, required=False)
        if col is None:
            return pd.Series(np.nan, index=raw.index)
        return by_unique(col, lambda u: pd.to_numeric(u, errors="coerce")).astype(float)

    def text(name: str) -> pd.Series:
        col = _pick(raw, name, path, required=False)
        return col if col is not None else pd.Series("", index=raw.index)

    out["follow_up"] = whole_numbers(numeric("Follow-up #"), str(path), "Follow-up #")
    age = _pick(raw, "Patient Age", path, required=False)
    out["age"] = parse_ages(age, str(path)) if age is not None else np.nan
    out["sex"] = text("Patient Gender")
    out["view"] = text("View Position")
    out["meta_w"] = numeric("OriginalImage[Width]")
    out["meta_h"] = numeric("OriginalImage[Height]")
    out[list(LABELS)] = labels
    out["no_finding"] = no_finding
    out["line"] = np.arange(len(out)) + 2
    return out


def read_bbox_list(path: str | Path, known_ids: pd.Series | None = None,
                   sizes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read ``BBox_List_2017.csv`` (x, y, w, h) into xyxy boxes with canonical labels.

    Returns ``image_id, label, x0, y0, x1, y1, line``. Unknown labels, non-numeric or non-positive
    sizes, (when ``known_ids`` is given) boxes on images absent from the metadata and (when ``sizes``,
    ``meta_w, meta_h`` indexed by image id, is given) boxes entirely outside their image raise.
    """
    path = Path(path)
    raw, names = _read_raw(path)
    image_id = _pick(raw, "Image Index", path)
    label = _pick(raw, "Finding Label", path)
    coords = [c for c in names if re.fullmatch(r".*\[(x|y|w|h)\]", c, flags=re.IGNORECASE)]
    if len(coords) != 4:
        raise InputError(f"{path}: expected a 'Bbox [x,y,w,h]' header, got {', '.join(names)}")
    assert image_id is not None and label is not None
    xywh = raw[coords].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(xywh).all(axis=1) | (xywh[:, 2] <= 0) | (xywh[:, 3] <= 0)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path} line {line_of(pos)}: box needs numeric x, y and positive w, h; "
                         f"got {raw.loc[pos, coords].tolist()}")
    canon = {}
    for pos, text in zip(*np.unique(label.to_numpy(), return_index=True)[::-1], strict=True):
        try:
            canon[text] = canonical_label(text)
        except UnknownLabelError as exc:
            raise InputError(f"{path} line {line_of(pos)}: {exc}") from None
    boxes = pd.DataFrame({"image_id": image_id, "label": label.map(canon),
                          "x0": xywh[:, 0], "y0": xywh[:, 1],
                          "x1": xywh[:, 0] + xywh[:, 2], "y1": xywh[:, 1] + xywh[:, 3],
                          "line": np.arange(len(raw)) + 2})
    wh = (sizes.reindex(boxes["image_id"]).to_numpy(dtype=float) if sizes is not None
          else np.full((len(boxes), 2), np.nan))
    reject_bad_boxes(boxes[["x0", "y0", "x1", "y1"]].to_numpy(), wh[:, 0], wh[:, 1], str(path),
                     lines=boxes["line"].to_numpy())
    if known_ids is not None:
        unknown = ~boxes["image_id"].isin(known_ids)
        if unknown.any():
            row = boxes[unknown].iloc[0]
            raise InputError(f"{path} line {row['line']}: box image {row['image_id']!r} is not in the metadata "
                             f"({int(unknown.sum())} box(es) affected)")
    dup = boxes.duplicated(["image_id", "label", "x0", "y0", "x1", "y1"])
    if dup.any():
        log.warning("%s: %d duplicate box row(s) dropped", path, int(dup.sum()))
        boxes = boxes[~dup]
    return boxes


def read_name_list(path: str | Path) -> list[str]:
    """One image name per line (``splitlines``: works without a trailing newline); blanks ignored."""
    path = Path(path)
    lines = read_utf8(path).splitlines()
    names: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise InputError(f"{path} line {number}: {name!r} is listed twice")
        seen.add(name)
        names.append(name)
    return names


def read_split_file(path: str | Path) -> pd.Series:
    """Read a CSV with ``Image Index,split`` (split in train/val/test) -> Series image_id -> split."""
    path = Path(path)
    raw, _ = _read_raw(path)
    names = _pick(raw, "Image Index", path)
    split = _pick(raw, "split", path)
    assert names is not None and split is not None
    bad = ~split.isin(["train", "val", "test"])
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path} line {line_of(pos)}: split {split.iloc[pos]!r} is not train, val or test")
    dup = names.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise InputError(f"{path} line {line_of(pos)}: {names.iloc[pos]!r} is listed twice")
    return pd.Series(split.to_numpy(), index=names.to_numpy(), name="split")
