"""Vectorised parsing of metadata fields shared by the NIH and generic-CSV readers.

Labels, ages and image-file discovery; every problem is reported as an :class:`InputError` naming the
file and the 1-based line (header = line 1).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.errors import InputError
from agcl.labels import LABEL_INDEX, LABELS, UnknownLabelError, parse_finding_labels

log = logging.getLogger(__name__)

#: Image file suffixes that :func:`find_image_files` picks up (lower case).
IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".dcm", ".dicom"})


def line_of(position: int) -> int:
    """1-based file line of data row ``position`` (0-based) in a CSV with one header line."""
    return int(position) + 2


def by_unique(values: pd.Series, fn) -> pd.Series:
    """Apply a Series -> Series function to the distinct values only, then broadcast back.

    Metadata columns are low-cardinality (ages, views, label sets), and pandas' string methods run in
    Python per element, so this keeps indexing 112k rows in about a second.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    out = fn(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    return pd.Series(np.asarray(out)[codes], index=values.index)


def strip_text(values: pd.Series) -> pd.Series:
    """Strip surrounding whitespace; NaN becomes ''. Returns an object Series."""
    def strip(uniq: pd.Series) -> list[str]:
        return [v.strip() if isinstance(v, str) else "" for v in uniq]

    return by_unique(values, strip).astype(object)


def label_matrix(field: pd.Series, source: str, sep: str = "|") -> tuple[np.ndarray, np.ndarray]:
    """Parse a ``Finding Labels`` column into a 0/1 matrix and a No Finding flag.

    Each distinct string is parsed once with :func:`agcl.labels.parse_finding_labels` (ChestX-ray14 has
    ~800 distinct combinations for 112k rows), then broadcast back.

    Shapes: returns (uint8 ``[N, 14]`` in ``LABELS`` order, uint8 ``[N]``).
    """
    codes, uniques = pd.factorize(field.fillna("").astype(str), sort=False)
    table = np.zeros((len(uniques), len(LABELS)), dtype=np.uint8)
    nofind = np.zeros(len(uniques), dtype=np.uint8)
    for k, text in enumerate(uniques):
        try:
            names, no_finding = parse_finding_labels(text, sep=sep)
        except UnknownLabelError as exc:
            row = int(np.flatnonzero(codes == k)[0])
            raise InputError(f"{source} line {line_of(row)}: {exc}") from None
        table[k, [LABEL_INDEX[n] for n in names]] = 1
        nofind[k] = no_finding
    return table[codes], nofind[codes]


def parse_ages(values: pd.Series, source: str, max_years: float = 120.0) -> pd.Series:
    """Ages in years (float) from integers or NIH-2017 strings such as ``058Y``, ``011M``, ``005D``.

    ``Y`` years, ``M`` months, ``W`` weeks, ``D`` days. Blank, unparseable and impossible ages
    (> ``max_years``, e.g. the 2017 file's ``414Y``) become NaN; their counts are logged.
    """
    text = strip_text(values).str.upper()

    def to_years(uniq: pd.Series) -> pd.Series:
        parts = uniq.astype(str).str.extract(r"^(\d+(?:\.\d+)?)\s*([YMWD]?)$")
        number = pd.to_numeric(parts[0], errors="coerce")
        return number / parts[1].map({"": 1.0, "Y": 1.0, "M": 12.0, "W": 52.1775, "D": 365.25})

    years = by_unique(text, to_years).astype(float)
    bad = text.ne("") & years.isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        log.warning("%s: %d unparseable age(s) set to NaN (first: %r on line %d)", source, int(bad.sum()),
                    text.iloc[first], line_of(first))
    impossible = years > max_years
    if impossible.any():
        log.warning("%s: %d impossible age(s) over %g years set to NaN (max %g)", source,
                    int(impossible.sum()), max_years, float(years.max()))
        years = years.mask(impossible)
    return years.astype(float)


def find_image_files(root: Path, folders: list[Path] | None = None) -> dict[str, str]:
    """Map image file name -> path relative to ``root`` for every image in the given folders.

    Default folders are the NIH layouts: ``root/images/`` and ``root/images_*/images/`` (the split
    download) or ``root/images_*/``. The first folder (sorted) wins when a name appears twice.
    """
    if folders is None:
        folders = [root / "images"]
        for sub in sorted(root.glob("images_*")):
            folders.append(sub / "images" if (sub / "images").is_dir() else sub)
    found: dict[str, str] = {}
    dupes = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        rel = folder.relative_to(root).as_posix()
        with os.scandir(folder) as it:
            for entry in it:
                if Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES or not entry.is_file():
                    continue
                if entry.name in found:
                    dupes += 1
                    continue
                found[entry.name] = f"{rel}/{entry.name}"
    if dupes:
        log.warning("%s: %d image name(s) appear in more than one folder; the first copy is used", root, dupes)
    return found


def apply_missing_images(images: pd.DataFrame, present: pd.Series, source: str, allow_missing: bool,
                         what: str = "image files") -> pd.DataFrame:
    """Drop rows whose file is absent when allowed, else raise naming the count and the first few."""
    missing = ~present.to_numpy(dtype=bool)
    n_missing = int(missing.sum())
    if n_missing == 0:
        return images
    first = ", ".join(images.loc[missing, "image_id"].head(3).astype(str))
    if not allow_missing:
        raise InputError(
            f"{source}: {n_missing} of {len(images)} {what} are missing (first: {first}); "
            "pass --allow-missing to index only the images that exist"
        )
    log.warning("%s: %d of %d images have no file and were dropped (--allow-missing); first: %s",
                source, n_missing, len(images), first)
    kept = images.loc[~missing]
    if kept.empty:
        raise InputError(f"{source}: none of the {len(images)} images listed has a file")
    return kept


def reject_boxes_outside(xyxy: np.ndarray, width: np.ndarray, height: np.ndarray, source: str) -> None:
    """Refuse a box that lies entirely outside its image: it can never be matched and only lowers recall.

    A box that overlaps the image but extends beyond it is kept (boxes are compared by overlap).

    Shapes: ``xyxy`` [N,4] file pixels; ``width``/``height`` [N] image size, NaN when unknown (then only
    the image's top-left corner bounds the box).
    """
    w = np.where(np.isfinite(width), width, np.inf)
    h = np.where(np.isfinite(height), height, np.inf)
    outside = (xyxy[:, 2] <= 0) | (xyxy[:, 3] <= 0) | (xyxy[:, 0] >= w) | (xyxy[:, 1] >= h)
    if outside.any():
        pos = int(np.flatnonzero(outside)[0])
        size = f"{width[pos]:g}x{height[pos]:g} " if np.isfinite(width[pos]) and np.isfinite(height[pos]) else ""
        raise InputError(f"{source} line {line_of(pos)}: box {[float(v) for v in xyxy[pos]]} (x0,y0,x1,y1) lies "
                         f"entirely outside the {size}image; fix or delete the row ({int(outside.sum())} such box(es))")
