"""The dataset index (``images.csv``, ``boxes.csv``, ``index.json``): schema, checks, splits, load/save.

Readers for concrete layouts (:mod:`agcl.data.nih`, :mod:`agcl.data.table`) build the two frames; this
module validates them, carves patient-level splits and writes/reads the index directory atomically.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agcl.errors import InputError, one_line
from agcl.fingerprints import index_fingerprint
from agcl.io import write_json_atomic, write_with_atomic
from agcl.labels import LABELS
from agcl.paths import escapes_root, first_escaping, read_text, regular_file

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
META_COLUMNS: tuple[str, ...] = (
    "image_id", "path", "patient_id", "follow_up", "age", "sex", "view", "meta_w", "meta_h",
)
IMAGE_COLUMNS: tuple[str, ...] = (*META_COLUMNS, *LABELS, "no_finding", "split")
BOX_COLUMNS: tuple[str, ...] = ("image_id", "label", "x0", "y0", "x1", "y1")
SCHEMA_VERSION = 1
#: The files of an index directory (``index.json`` is written last).
INDEX_OUTPUTS: tuple[str, ...] = ("images.csv", "boxes.csv", "index.json")


@dataclass
class Index:
    """A loaded index directory.

    Attributes:
        images: one row per image, columns :data:`IMAGE_COLUMNS`, sorted by ``image_id``.
        boxes: ground-truth boxes, columns :data:`BOX_COLUMNS` (xyxy, pixels of the image file).
        root: absolute directory that ``images.path`` is relative to.
        meta: the content of ``index.json``.
        fingerprint: :func:`agcl.fingerprints.index_fingerprint` of the directory ("" when built in memory).
        source: the index directory ("" when built in memory).
    """

    images: pd.DataFrame
    boxes: pd.DataFrame
    root: Path
    meta: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    source: str = ""
    _paths: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def abs_path(self, image_id: str) -> Path:
        """Absolute path of one image file."""
        if self._paths is None:
            self._paths = dict(zip(self.images["image_id"], self.images["path"], strict=True))
        try:
            rel = str(self._paths[image_id])
        except KeyError:
            raise InputError(f"image {image_id!r} is not in the index at {self.root}") from None
        if escapes_root(rel):  # checked at load time too; an Index built in memory is checked here
            raise InputError(f"image {image_id!r}: path {rel!r} is not inside the index root {self.root}")
        return self.root / rel

    def split(self, name: str) -> pd.DataFrame:
        """Rows of one split (``train``, ``val`` or ``test``), keeping their row numbers as the index."""
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return self.images[self.images["split"] == name]

    def labels_matrix(self, split: str | None = None) -> np.ndarray:
        """Label matrix in :data:`agcl.labels.LABELS` order.

        Shapes: returns uint8 ``[N, 14]`` (0/1), rows in ``images.csv`` order (of the split if given).
        """
        frame = self.images if split is None else self.split(split)
        return frame.loc[:, list(LABELS)].to_numpy(dtype=np.uint8)


def normalize_patient_ids(values: pd.Series) -> pd.Series:
    """Stable patient-id strings: whitespace stripped; all-digit ids lose leading zeros.

    So the 2017 metadata's ``00000001`` and the v2020 ``1`` are the same patient. Other ids are kept
    as text (case-sensitive).
    """
    def norm(uniq: pd.Series) -> pd.Series:
        return pd.Series([(t.lstrip("0") or "0") if t.isascii() and t.isdigit() else t for t in (str(u).strip() for u in uniq)],
                         dtype=object)

    from agcl.data.fields import by_unique

    return by_unique(values, norm)


def carve_val_by_patient(patients: pd.Series, n_val: int, seed: int) -> np.ndarray:
    """Choose whole patients for validation so that their image count is as close as possible to n_val.

    Patients (sorted) are permuted with ``numpy.random.default_rng(seed)``; the shortest prefix whose
    cumulative image count is closest to ``n_val`` becomes val. Deterministic for a given input.

    Shapes: ``patients`` has one entry per candidate image; returns bool ``[N]`` (True = val).
    """
    if n_val <= 0 or len(patients) == 0:
        return np.zeros(len(patients), dtype=bool)
    counts = patients.value_counts().sort_index()
    order = np.random.default_rng(seed).permutation(len(counts))
    cum = np.cumsum(counts.to_numpy()[order])
    k = int(np.argmin(np.abs(cum - n_val))) + 1
    chosen = set(counts.index[order[:k]])
    return patients.isin(chosen).to_numpy()


def carve_splits_by_patient(patients: pd.Series, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Split images into train/val/test by patient with target image fractions (train, val, test).

    Test is carved first, then val, each with :func:`carve_val_by_patient` on the remaining patients
    (seeds ``seed`` and ``seed + 1``).

    Shapes: returns object array ``[N]`` of split names.
    """
    if (len(fractions) != 3 or not all(np.isfinite(f) and f >= 0 for f in fractions)
            or abs(sum(fractions) - 1.0) > 1e-6):
        raise InputError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    n = len(patients)
    split = np.full(n, "train", dtype=object)
    is_test = carve_val_by_patient(patients, round(fractions[2] * n), seed)
    split[is_test] = "test"
    rest = ~is_test
    is_val = carve_val_by_patient(patients[rest], round(fractions[1] * n), seed + 1)
    split[np.flatnonzero(rest)[is_val]] = "val"
    return split


def check_patient_leakage(images: pd.DataFrame, source: str) -> None:
    """Raise when one patient has images in two splits."""
    per = images.groupby("patient_id")["split"].nunique()
    leaked = per[per > 1]
    if len(leaked):
        pid = leaked.index[0]
        splits = sorted(images.loc[images["patient_id"] == pid, "split"].unique())
        raise InputError(
            f"{source}: patient {pid} has images in several splits ({', '.join(splits)}); "
            f"{len(leaked)} patient(s) affected"
        )


def validate_index(images: pd.DataFrame, boxes: pd.DataFrame, source: str) -> None:
    """Check the invariants every index must satisfy (columns, unique ids, splits, no leakage, boxes)."""
    missing = [c for c in IMAGE_COLUMNS if c not in images.columns]
    if missing:
        raise InputError(f"{source}: index is missing columns {missing}")
    dup = images["image_id"].duplicated(keep=False)
    if dup.any():
        raise InputError(f"{source}: duplicate image id {images.loc[dup, 'image_id'].iloc[0]!r} ({int(dup.sum())} rows)")
    bad_split = ~images["split"].isin(SPLITS)
    if bad_split.any():
        row = images[bad_split].iloc[0]
        raise InputError(f"{source}: image {row['image_id']!r} has split {row['split']!r}; expected train/val/test")
    check_patient_leakage(images, source)
    unknown = ~boxes["image_id"].isin(images["image_id"])
    if unknown.any():
        raise InputError(f"{source}: box for unknown image {boxes.loc[unknown, 'image_id'].iloc[0]!r}")


def sort_index_frames(images: pd.DataFrame, boxes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sort images by image_id (stable) and boxes by (image_id, label, x0, y0); reset row numbers."""
    images = images.sort_values("image_id", kind="stable").reset_index(drop=True)
    boxes = boxes.sort_values(["image_id", "label", "x0", "y0"], kind="stable").reset_index(drop=True)
    return images.loc[:, list(IMAGE_COLUMNS)], boxes.loc[:, list(BOX_COLUMNS)]


def index_counts(images: pd.DataFrame, boxes: pd.DataFrame) -> dict[str, Any]:
    """Summary counts stored in ``index.json``."""
    return {
        "images": int(len(images)),
        "patients": int(images["patient_id"].nunique()),
        "splits": {s: int((images["split"] == s).sum()) for s in SPLITS},
        "labels": {name: int(images[name].sum()) for name in LABELS},
        "no_finding": int(images["no_finding"].sum()),
        "boxes": int(len(boxes)),
        "box_images": int(boxes["image_id"].nunique()),
    }


def save_index(out_dir: str | Path, images: pd.DataFrame, boxes: pd.DataFrame, meta: dict[str, Any]) -> Path:
    """Validate, sort and write ``images.csv``, ``boxes.csv`` and ``index.json`` (last) atomically."""
    out = Path(out_dir)
    validate_index(images, boxes, str(out))
    images, boxes = sort_index_frames(images, boxes)
    meta = {"schema": SCHEMA_VERSION, **meta, "counts": index_counts(images, boxes), "agcl_version": _version()}
    previous = _previous_fingerprint(out)
    out.mkdir(parents=True, exist_ok=True)
    write_with_atomic(out / "images.csv", lambda p: images.to_csv(p, index=False, float_format="%.10g"))
    write_with_atomic(out / "boxes.csv", lambda p: boxes.to_csv(p, index=False, float_format="%.6f"))
    write_json_atomic(out / "index.json", meta)
    if previous is not None and previous != index_fingerprint(out):
        stale = sorted(p.name for p in out.glob("cache_*") if (p / "cache.json").is_file())
        if stale:  # consumers refuse them (fingerprint); `agcl prepare` rebuilds them
            log.warning("%s: the index changed; %s was built from the previous index and is refused until "
                        "`agcl prepare %s` rebuilds it", out, ", ".join(stale), out)
    return out


def _previous_fingerprint(out: Path) -> str | None:
    """Fingerprint of the index already in ``out`` (None when there is none or it is damaged)."""
    if not (out / "index.json").is_file():
        return None
    try:
        return index_fingerprint(out)
    except InputError:
        return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agcl")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def load_index(index_dir: str | Path) -> Index:
    """Read an index directory written by ``agcl index``.

    Raises:
        InputError: when a file is missing or does not follow the index schema.
    """
    d = Path(index_dir)
    meta_path = d / "index.json"
    if not os.path.lexists(meta_path):
        raise InputError(f"{d} is not an agcl index (no index.json); create one with `agcl index`")
    try:
        meta = json.loads(read_text(meta_path, "index file"))
    except ValueError as exc:
        raise InputError(f"{meta_path}: invalid JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("root", str(d)), str):
        raise InputError(f"{meta_path}: not an index.json (a JSON object with a 'root' folder); re-run `agcl index`")
    dtypes = {"image_id": str, "path": str, "patient_id": str, "sex": str, "view": str, "split": str}
    try:
        images = pd.read_csv(regular_file(d / "images.csv", "index file"), dtype=dtypes, keep_default_na=False,
                             na_values={"age": [""], "meta_w": [""], "meta_h": [""], "follow_up": [""]})
        boxes = pd.read_csv(regular_file(d / "boxes.csv", "index file"), dtype={"image_id": str, "label": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"{d}: cannot read index files ({one_line(str(exc), 300)})") from None
    missing = [c for c in IMAGE_COLUMNS if c not in images.columns]
    if missing:
        raise InputError(f"{d / 'images.csv'}: missing columns {missing}")
    missing = [c for c in BOX_COLUMNS if c not in boxes.columns]
    if missing:
        raise InputError(f"{d / 'boxes.csv'}: missing columns {missing}")
    check_loaded(images, boxes, d)
    root = Path(meta.get("root", d))
    return Index(images=images, boxes=boxes, root=root, meta=meta, fingerprint=index_fingerprint(d), source=str(d))


def check_loaded(images: pd.DataFrame, boxes: pd.DataFrame, d: Path) -> None:
    """What a hand-edited index must still satisfy when it is read (``agcl index`` wrote it valid): image
    paths inside the root (agcl never reads outside the folders the user named), 0/1 labels, known
    splits, unique ids, and finite boxes of sane size on known images with canonical labels."""
    from agcl.boxes.geometry import box_problems
    from agcl.labels import UnknownLabelError, canonical_label

    source = d / "images.csv"
    pos = first_escaping(images["path"])
    if pos is not None:
        raise InputError(f"{source} line {pos + 2}: image path {images['path'].iloc[pos]!r} must be relative to "
                         "the index root and stay inside it")
    labels = images[list(LABELS)].apply(pd.to_numeric, errors="coerce")
    bad = ~labels.isin([0, 1]).all(axis=1)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{source} line {pos + 2}: label columns must be 0 or 1")
    images[list(LABELS)] = labels.astype(np.int64)
    validate_index(images, boxes.iloc[0:0], str(source))
    source = d / "boxes.csv"
    known = boxes["image_id"].isin(images["image_id"])
    if not known.all():
        pos = int(np.flatnonzero(~known.to_numpy())[0])
        raise InputError(f"{source} line {pos + 2}: box for unknown image {boxes['image_id'].iloc[pos]!r}")
    xyxy = boxes[list(BOX_COLUMNS[2:])].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    sizes = images.set_index("image_id")[["meta_w", "meta_h"]].apply(pd.to_numeric, errors="coerce")
    wh = sizes.reindex(boxes["image_id"]).to_numpy(dtype=float)
    bad = box_problems(xyxy, wh[:, 0], wh[:, 1])
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source} line {pos + 2}: box {xyxy[pos].tolist()} is not a usable box (finite, "
                         "x1 > x0, y1 > y0, overlapping its image and not far beyond it)")
    boxes[list(BOX_COLUMNS[2:])] = xyxy
    for pos, label in enumerate(boxes["label"]):
        try:
            canonical_label(str(label))
        except UnknownLabelError as exc:
            raise InputError(f"{source} line {pos + 2}: {exc}") from None
