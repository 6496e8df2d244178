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


def whole_numbers(values: pd.Series, source: str, column: str) -> pd.Series:
    """A nullable integer column (``Int64``) from numbers; blanks, text and fractional or non-finite
    values (a ``Follow-up #`` of ``1.5``) become missing, with one warning naming the first line."""
    number = pd.to_numeric(values, errors="coerce").astype(float)
    fine = np.isfinite(number) & (number == np.round(number)) & (number.abs() < 2**53)
    odd = number.notna() & ~fine
    if odd.any():
        first = int(np.flatnonzero(odd.to_numpy())[0])
        log.warning("%s: %d value(s) of %r are not whole numbers and were left empty (first: %r on line %d)",
                    source, int(odd.sum()), column, values.iloc[first], line_of(first))
    return number.where(fine).astype("Int64")


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
                if Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES or not _is_file(entry):
                    continue
                if entry.name in found:
                    dupes += 1
                    continue
                found[entry.name] = f"{rel}/{entry.name}"
    if dupes:
        log.warning("%s: %d image name(s) appear in more than one folder; the first copy is used", root, dupes)
    return found


def _is_file(entry: os.DirEntry) -> bool:
    """A regular file (a link to one counts); a broken or looping link, a FIFO or a device is not."""
    try:
        return entry.is_file()
    except OSError:  # ELOOP: a symbolic link loop
        return False


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


def reject_bad_boxes(xyxy: np.ndarray, width: np.ndarray, height: np.ndarray, source: str,
                     lines: np.ndarray | None = None) -> None:
    """Refuse the first box that :func:`agcl.boxes.geometry.box_problems` flags, naming its line and why.

    A box entirely outside its image can never be matched and only lowers recall; a box of absurd size
    (``1e308``) would match every detection and inflate it. A box that overlaps the image but extends
    beyond it is kept (boxes are compared by overlap).

    Shapes: ``xyxy`` [N,4] file pixels; ``width``/``height`` [N] image size, NaN when unknown (then only
    the finite, ordered, ±MAX_COORD rules apply); ``lines`` [N] 1-based file lines (default: row + 2).
    """
    from agcl.boxes.geometry import MAX_COORD, box_problems

    bad = box_problems(xyxy, width, height)
    if not bad.any():
        return
    pos = int(np.flatnonzero(bad)[0])
    b, w, h = np.asarray(xyxy[pos], dtype=float), float(width[pos]), float(height[pos])
    known = np.isfinite(w) and np.isfinite(h)
    if not np.isfinite(b).all() or (np.abs(b) > MAX_COORD).any():
        why = f"has a coordinate that is not a finite number within ±{MAX_COORD:g} pixels"
    elif b[2] <= b[0] or b[3] <= b[1]:
        why = "needs x1 > x0 and y1 > y0"
    elif b[2] <= 0 or b[3] <= 0 or (known and (b[0] >= w or b[1] >= h)):
        why = f"lies entirely outside the {f'{w:g}x{h:g} ' if known else ''}image"
    else:
        why = f"reaches more than one image size beyond the {w:g}x{h:g} image"
    line = int(lines[pos]) if lines is not None else line_of(pos)
    raise InputError(f"{source} line {line}: box {[float(v) for v in b]} (x0,y0,x1,y1) {why}; fix or delete "
                     f"the row ({int(bad.sum())} such box(es))")
