"""Stage outputs (contract "Stage outputs"): ``predictions.csv``, ``heatmaps.npy`` + ``heatmaps_ids.csv``,
``boxes.csv``. Writers are atomic; readers validate and raise :class:`InputError` naming the file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.boxes.geometry import BOX_COLUMNS
from agcl.errors import InputError, one_line
from agcl.io import atomic_path, write_with_atomic
from agcl.labels import LABELS
from agcl.paths import regular_file

log = logging.getLogger(__name__)
PREDICTIONS = "predictions.csv"
HEATMAPS = "heatmaps.npy"
HEATMAP_IDS = "heatmaps_ids.csv"
BOXES = "boxes.csv"
_F16_MAX = float(np.finfo(np.float16).max)


def _ids(image_ids) -> list[str]:
    ids = [str(i) for i in image_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("image ids are not unique")
    return ids


def write_predictions(directory, image_ids, probs, labels=LABELS) -> Path:
    """Write ``predictions.csv``: ``image_id`` + one probability column per label (LABELS order).

    Shapes: image_ids [N]; probs [N,K] float in [0,1].
    """
    p = np.asarray(probs, dtype=np.float64)
    ids = _ids(image_ids)
    if p.shape != (len(ids), len(labels)):
        raise ValueError(f"predictions shape {p.shape} does not fit {len(ids)} ids x {len(labels)} labels")
    df = pd.DataFrame(p, columns=list(labels))
    df.insert(0, "image_id", ids)
    path = Path(directory) / PREDICTIONS
    write_with_atomic(path, lambda tmp: df.to_csv(tmp, index=False, float_format="%.6g"))
    return path


def read_predictions(directory_or_file, labels=LABELS) -> pd.DataFrame:
    """Read and validate ``predictions.csv``. Returns a DataFrame ``image_id`` + label columns (float)."""
    path = Path(directory_or_file)
    path = path / PREDICTIONS if path.is_dir() else path
    if not os.path.lexists(path):
        raise InputError(f"predictions not found: {path}")
    df = read_table(path, "predictions", {"image_id": str})
    missing = [c for c in ("image_id", *labels) if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing}")
    values = df[list(labels)].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1) | ((values < 0) | (values > 1)).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: row {row + 2}: probabilities must be numbers in [0,1]")
    if df["image_id"].duplicated().any():
        raise InputError(f"{path}: duplicate image_id {df.loc[df['image_id'].duplicated(), 'image_id'].iloc[0]!r}")
    return pd.concat([df[["image_id"]], values], axis=1)


def write_heatmaps(directory, image_ids, cams) -> Path:
    """Write raw CAMs as float16 ``heatmaps.npy`` [N,K,h,w] with row ids in ``heatmaps_ids.csv``.

    Values beyond the float16 range are clipped (with a warning) rather than stored as inf.

    Shapes: image_ids [N]; cams [N,K,h,w] float (feature resolution, image frame: cell (i,j) covers
    rows i·S/h..(i+1)·S/h of the S×S cache image — see :mod:`agcl.cam.align`).
    """
    ids = _ids(image_ids)
    arr = np.asarray(cams)
    if arr.ndim != 4 or arr.shape[0] != len(ids):
        raise ValueError(f"heatmaps must be [N,K,h,w] with N={len(ids)}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("heatmaps contain NaN or inf")
    if np.abs(arr).max(initial=0) > _F16_MAX:
        log.warning("heatmaps exceed the float16 range; clipping to ±%g", _F16_MAX)
        arr = np.clip(arr, -_F16_MAX, _F16_MAX)
    directory = Path(directory)
    write_with_atomic(directory / HEATMAP_IDS, lambda tmp: pd.DataFrame({"image_id": ids}).to_csv(tmp, index=False))
    with atomic_path(directory / HEATMAPS) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr.astype(np.float16))
    return directory / HEATMAPS


def read_heatmaps(directory, mmap: bool = True) -> tuple[list[str], np.ndarray]:
    """Read ``heatmaps.npy`` and its ids. Returns (ids [N], array [N,K,h,w] float16, memory-mapped)."""
    directory = Path(directory)
    npy, ids_path = directory / HEATMAPS, directory / HEATMAP_IDS
    for p in (npy, ids_path):
        if not os.path.lexists(p):
            raise InputError(f"heatmaps not found: {p}")
    arr = read_npy(npy, "heatmaps", ndim=4, mmap=mmap)
    ids = read_table(ids_path, "heatmap ids", {"image_id": str})
    if "image_id" not in ids.columns:
        raise InputError(f"{ids_path}: missing column 'image_id'")
    if arr.shape[0] != len(ids):
        raise InputError(f"{npy}: shape {arr.shape} does not fit {len(ids)} ids in {ids_path}")
    if ids["image_id"].duplicated().any():
        raise InputError(f"{ids_path}: duplicate image_id {ids.loc[ids['image_id'].duplicated(), 'image_id'].iloc[0]!r}")
    return ids["image_id"].tolist(), arr


def read_table(path: Path, what: str, dtype: dict | None = None, **kwargs) -> pd.DataFrame:
    """A CSV artifact as a DataFrame; a missing, special, empty or malformed file is an InputError naming it."""
    regular_file(path, what)
    try:
        return pd.read_csv(path, dtype=dtype, **kwargs)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable {what} table ({one_line(str(exc), 200)})") from None


def read_npy(path: Path, what: str, *, ndim: int | None = None, mmap: bool = False) -> np.ndarray:
    """A float ``.npy`` artifact, checked: no pickles, a float dtype, ``ndim`` dimensions and only finite
    values (a NaN map would score as "no detection" and lower recall silently).

    Shapes: returns the stored array (memory-mapped when ``mmap``).
    """
    regular_file(path, what)
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a valid .npy array ({one_line(str(exc), 200)})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        raise InputError(f"{path}: expected a float array, got {getattr(arr, 'dtype', type(arr).__name__)}")
    if ndim is not None and arr.ndim != ndim:
        raise InputError(f"{path}: expected {ndim} dimensions, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        first = np.unravel_index(int(np.argmin(finite.reshape(-1))), arr.shape)
        raise InputError(f"{path}: {int((~finite).sum())} value(s) are NaN or infinite (first at {tuple(map(int, first))}); "
                         "recompute the stage")
    return arr


def write_boxes(path, boxes: pd.DataFrame) -> Path:
    """Write a box table ``image_id,label,x0,y0,x1,y1,score`` (original pixels) atomically."""
    cols = ["image_id", "label", *BOX_COLUMNS, "score"]
    write_with_atomic(path, lambda tmp: boxes[cols].to_csv(tmp, index=False, float_format="%.4f"))
    return Path(path)


def read_boxes(path) -> pd.DataFrame:
    """Read a box table written by :func:`write_boxes`."""
    path = Path(path)
    if not os.path.lexists(path):
        raise InputError(f"boxes not found: {path}")
    df = read_table(path, "boxes", {"image_id": str, "label": str})
    missing = [c for c in ("image_id", "label", *BOX_COLUMNS) if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing}")
    return df
