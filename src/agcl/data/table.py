"""Reader for users' own collections: one CSV row per image (path, labels, patient, optional split).

``agcl index --csv FILE --root DIR`` builds the same index as the NIH reader. Image paths are relative
to ``--root`` and may not leave it; ``image_id`` is the path as written in the CSV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agcl.data.fields import (
    apply_missing_images,
    label_matrix,
    line_of,
    parse_ages,
    reject_bad_boxes,
    whole_numbers,
)
from agcl.data.index import SPLITS, carve_splits_by_patient, check_patient_leakage, normalize_patient_ids
from agcl.errors import InputError, one_line
from agcl.labels import LABELS, UnknownLabelError, canonical_label
from agcl.paths import first_escaping, regular_file, resolved

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableOptions:
    """Column names and split settings of :func:`build_csv_index` (CLI flags of ``agcl index --csv``)."""

    image_col: str = "path"
    labels_col: str = "labels"
    label_sep: str = "|"
    patient_col: str | None = "patient_id"
    split_col: str | None = None
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int = 0
    boxes: Path | None = None
    allow_missing: bool = False


def _read(path: Path) -> pd.DataFrame:
    regular_file(path, "CSV file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: malformed CSV ({one_line(str(exc).strip().splitlines()[-1], 300)})") from None


def _require(frame: pd.DataFrame, cols: list[str], path: Path, flag: str = "") -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}{flag} (header: {', '.join(frame.columns)})")


def _check_paths(paths: pd.Series, source: Path) -> None:
    """Paths must be relative and stay inside --root (we never read outside directories the user named)."""
    pos = first_escaping(paths)
    if pos is not None:
        raise InputError(f"{source} line {line_of(pos)}: image path {paths.iloc[pos]!r} must be relative to --root "
                         "and stay inside it")


def read_boxes_csv(path: Path, known_ids: pd.Series, sizes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Boxes CSV with ``image_id,label`` and either ``x0,y0,x1,y1`` or ``x,y,w,h`` (pixels of the file)."""
    raw = _read(path)
    _require(raw, ["image_id", "label"], path)
    if {"x0", "y0", "x1", "y1"} <= set(raw.columns):
        xyxy = raw[["x0", "y0", "x1", "y1"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    elif {"x", "y", "w", "h"} <= set(raw.columns):
        xywh = raw[["x", "y", "w", "h"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        xyxy = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]
    else:
        raise InputError(f"{path}: needs columns x0,y0,x1,y1 or x,y,w,h (header: {', '.join(raw.columns)})")
    bad = ~np.isfinite(xyxy).all(axis=1) | (xyxy[:, 2] <= xyxy[:, 0]) | (xyxy[:, 3] <= xyxy[:, 1])
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path} line {line_of(pos)}: box needs numeric coordinates with x1 > x0 and y1 > y0")
    labels = []
    for pos, text in enumerate(raw["label"]):
        try:
            labels.append(canonical_label(text))
        except UnknownLabelError as exc:
            raise InputError(f"{path} line {line_of(pos)}: {exc}") from None
    wh = (sizes.reindex(raw["image_id"]).to_numpy(dtype=float) if sizes is not None
          else np.full((len(xyxy), 2), np.nan))  # the CSV's width/height columns, when it has them
    reject_bad_boxes(xyxy, wh[:, 0], wh[:, 1], str(path))
    unknown = ~raw["image_id"].isin(known_ids)
    if unknown.any():
        pos = int(np.flatnonzero(unknown)[0])
        raise InputError(f"{path} line {line_of(pos)}: box image {raw['image_id'].iloc[pos]!r} is not in the image CSV")
    return pd.DataFrame({"image_id": raw["image_id"], "label": labels, "x0": xyxy[:, 0], "y0": xyxy[:, 1],
                         "x1": xyxy[:, 2], "y1": xyxy[:, 3]})


def build_csv_index(csv_path: str | Path, root: str | Path,
                    opts: TableOptions | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Index a generic CSV collection. Returns ``(images, boxes, meta)`` ready for :func:`save_index`.

    Optional columns ``age``, ``sex``, ``view``, ``follow_up``, ``width``/``height`` are used when present.
    Without ``split_col`` the split is carved by patient with ``fractions`` (train, val, test) and ``seed``;
    without ``patient_col`` every image counts as its own patient (logged).
    """
    opts = opts or TableOptions()
    if not opts.label_sep:
        raise InputError("--label-sep must not be empty (labels are split on it, e.g. '|')")
    csv_path, root = resolved(csv_path, "--csv"), resolved(root, "--root")
    if not root.is_dir():
        raise InputError(f"--root {root} is not a directory")
    raw = _read(csv_path)
    need = [opts.image_col, opts.labels_col] + [c for c in (opts.patient_col, opts.split_col) if c]
    _require(raw, need, csv_path, " (see --image-col/--labels-col/--patient-col/--split-col)")
    paths = raw[opts.image_col].str.strip()
    _check_paths(paths, csv_path)
    dup = paths.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise InputError(f"{csv_path} line {line_of(pos)}: duplicate image {paths.iloc[pos]!r}")
    labels, no_finding = label_matrix(raw[opts.labels_col], str(csv_path), sep=opts.label_sep)
    images = pd.DataFrame({"image_id": paths, "path": paths})
    if opts.patient_col:
        patient = raw[opts.patient_col].str.strip()
        if patient.eq("").any():
            raise InputError(f"{csv_path} line {line_of(int(np.flatnonzero(patient.eq(''))[0]))}: empty patient id")
        images["patient_id"] = normalize_patient_ids(patient)
    else:
        log.warning("%s: no patient column; every image is treated as its own patient", csv_path)
        images["patient_id"] = paths

    def opt_col(name: str) -> pd.Series | None:
        return raw[name].str.strip() if name in raw.columns else None

    fu = opt_col("follow_up")
    images["follow_up"] = whole_numbers(fu, str(csv_path), "follow_up") if fu is not None else pd.NA
    age = opt_col("age")
    images["age"] = parse_ages(age, str(csv_path)) if age is not None else np.nan
    for name in ("sex", "view"):
        col = opt_col(name)
        images[name] = col if col is not None else ""
    for name, out in (("width", "meta_w"), ("height", "meta_h")):
        col = opt_col(name)
        images[out] = pd.to_numeric(col, errors="coerce") if col is not None else np.nan
    images[list(LABELS)] = labels
    images["no_finding"] = no_finding
    if opts.split_col:
        split = raw[opts.split_col].str.strip()
        bad = ~split.isin(SPLITS)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise InputError(f"{csv_path} line {line_of(pos)}: split {split.iloc[pos]!r} is not train, val or test")
        images["split"] = split.to_numpy()
        split_source = f"column:{opts.split_col}"
    else:
        images["split"] = carve_splits_by_patient(images["patient_id"], opts.fractions, opts.seed)
        split_source = "carved"
    check_patient_leakage(images, str(csv_path))
    if opts.boxes is not None:
        boxes = read_boxes_csv(resolved(opts.boxes, "--boxes"), images["image_id"],
                               sizes=images.set_index("image_id")[["meta_w", "meta_h"]])
        outside = ~boxes["image_id"].map(images.set_index("image_id")["split"]).eq("test")
        if outside.any():
            log.warning("%s: %d box image(s) are not in the test split; evaluate localization on test boxes only",
                        opts.boxes, int(boxes.loc[outside, "image_id"].nunique()))
    else:
        boxes = pd.DataFrame({"image_id": pd.Series(dtype=str), "label": pd.Series(dtype=str),
                              **{c: pd.Series(dtype=float) for c in ("x0", "y0", "x1", "y1")}})
    present = images["path"].map(lambda p: (root / p).is_file())
    n_all = len(images)
    images = apply_missing_images(images, present, str(csv_path), opts.allow_missing)
    boxes = boxes[boxes["image_id"].isin(images["image_id"])]
    info = {
        "root": str(root),
        "source": "csv",
        "metadata": str(csv_path),
        "metadata_version": None,
        "split_source": split_source,
        "split_fractions": None if opts.split_col else list(opts.fractions),
        "seed": opts.seed,
        "dropped_missing_files": int(n_all - len(images)),
        "has_boxes": opts.boxes is not None,
    }
    return images, boxes, info
