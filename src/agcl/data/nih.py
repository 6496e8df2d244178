"""Index an NIH ChestX-ray14-layout folder: choose the metadata, assign splits, check boxes, find files.

The file readers (and their quirks) live in :mod:`agcl.data.nih_files`. See docs/data.md for every
check; each is an :class:`InputError` naming the file and row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agcl.data.fields import apply_missing_images, find_image_files
from agcl.data.index import carve_val_by_patient, check_patient_leakage
from agcl.data.nih_files import (  # noqa: F401 - re-exported: the NIH reader API
    physical_columns,
    read_bbox_list,
    read_data_entry,
    read_name_list,
    read_split_file,
)
from agcl.errors import InputError
from agcl.labels import LABELS
from agcl.paths import optional_file, resolved

log = logging.getLogger(__name__)

METADATA_FILES: dict[str, str] = {"v2020": "Data_Entry_2017_v2020.csv", "2017": "Data_Entry_2017.csv"}
BBOX_FILE = "BBox_List_2017.csv"
TRAIN_VAL_LIST = "train_val_list.txt"
TEST_LIST = "test_list.txt"
#: Every file of an NIH folder that indexing reads (besides the images).
SOURCE_FILES: tuple[str, ...] = (*METADATA_FILES.values(), BBOX_FILE, TRAIN_VAL_LIST, TEST_LIST)


@dataclass(frozen=True)
class NihOptions:
    """Options of :func:`build_nih_index` (CLI flags of ``agcl index``)."""

    metadata: str = "auto"  # auto (prefer v2020) | v2020 | 2017
    split_file: Path | None = None
    val_fraction: float = 0.1
    seed: int = 0
    allow_missing: bool = False


def choose_metadata(src: Path, which: str) -> tuple[str, Path]:
    """Pick the metadata file: ``auto`` prefers v2020 when both exist."""
    if which not in ("auto", "v2020", "2017"):
        raise InputError(f"--metadata must be auto, v2020 or 2017, got {which!r}")
    order = ["v2020", "2017"] if which == "auto" else [which]
    for version in order:
        if optional_file(src / METADATA_FILES[version], "metadata file"):
            return version, src / METADATA_FILES[version]
    wanted = " or ".join(METADATA_FILES[v] for v in order)
    raise InputError(f"{src}: no metadata file {wanted} found")


def _assign_official_split(meta: pd.DataFrame, src: Path, opts: NihOptions) -> tuple[np.ndarray, str]:
    lists = {name: src / name for name in (TRAIN_VAL_LIST, TEST_LIST)}
    for p in lists.values():
        if not optional_file(p, "split list"):
            raise InputError(f"{src}: split list {p.name} not found (or pass --split-file)")
    train_val, test = read_name_list(lists[TRAIN_VAL_LIST]), read_name_list(lists[TEST_LIST])
    both = set(train_val) & set(test)
    if both:
        raise InputError(f"{lists[TEST_LIST]}: {len(both)} name(s) also in {TRAIN_VAL_LIST}, e.g. {min(both)!r}")
    known = set(meta["image_id"])
    for name, names in ((TRAIN_VAL_LIST, train_val), (TEST_LIST, test)):
        extra = [n for n in names if n not in known]
        if extra:
            raise InputError(f"{lists[name]}: {len(extra)} name(s) not in the metadata, e.g. {extra[0]!r}")
    split = np.full(len(meta), "", dtype=object)
    split[meta["image_id"].isin(train_val).to_numpy()] = "train"
    split[meta["image_id"].isin(test).to_numpy()] = "test"
    none = split == ""
    if none.any():
        raise InputError(f"{src}: {int(none.sum())} image(s) in the metadata are in neither {TRAIN_VAL_LIST} nor "
                         f"{TEST_LIST}, e.g. {meta['image_id'][none].iloc[0]!r}")
    tmp = meta.assign(split=split)
    check_patient_leakage(tmp, f"{src} official split lists")
    if not 0 <= opts.val_fraction < 1:
        raise InputError(f"--val-fraction must be in [0, 1), got {opts.val_fraction}")
    n_val = round(opts.val_fraction * len(meta))
    is_tv = split == "train"
    if n_val >= is_tv.sum() and n_val > 0:
        raise InputError(f"--val-fraction {opts.val_fraction} asks for {n_val} val images but train_val has "
                         f"{int(is_tv.sum())}")
    val = carve_val_by_patient(meta.loc[is_tv, "patient_id"], n_val, opts.seed)
    split[np.flatnonzero(is_tv)[val]] = "val"
    return split, "official"


def _assign_split_file(meta: pd.DataFrame, opts: NihOptions) -> np.ndarray:
    assert opts.split_file is not None
    table = read_split_file(opts.split_file)
    extra = table.index.difference(pd.Index(meta["image_id"]))
    if len(extra):
        raise InputError(f"{opts.split_file}: {len(extra)} image(s) not in the metadata, e.g. {extra[0]!r}")
    split = meta["image_id"].map(table)
    if split.isna().any():
        raise InputError(f"{opts.split_file}: {int(split.isna().sum())} image(s) of the metadata have no split, "
                         f"e.g. {meta.loc[split.isna(), 'image_id'].iloc[0]!r}")
    out = split.to_numpy(dtype=object)
    check_patient_leakage(meta.assign(split=out), str(opts.split_file))
    return out


def check_box_labels(boxes: pd.DataFrame, labels: pd.DataFrame, source: str) -> int:
    """Count (and log) boxes whose class is absent from that image's labels. Returns the count."""
    lab = labels.set_index("image_id")
    known = boxes["image_id"].isin(lab.index)
    b = boxes[known]
    cols = lab.columns.get_indexer(b["label"])
    rows = lab.index.get_indexer(b["image_id"])
    has = lab.to_numpy()[rows, cols].astype(bool)
    n_bad = int((~has).sum())
    if n_bad:
        first = b[~has].iloc[0]
        log.warning("%s: %d of %d box label(s) are not among their image's labels (first: %s %s)", source,
                    n_bad, len(boxes), first["image_id"], first["label"])
    return n_bad


def read_nih_tables(src: str | Path, opts: NihOptions | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Metadata + splits + boxes of an NIH folder, checked, before image files are looked up.

    Returns ``(images, boxes, meta)``; ``images`` has every metadata row (no ``path`` yet).

    Raises:
        InputError: for every inconsistency listed in docs/data.md, naming the file and row.
    """
    opts = opts or NihOptions()
    src = resolved(src, "NIH folder")
    if not src.is_dir():
        raise InputError(f"{src} is not a directory")
    version, meta_path = choose_metadata(src, opts.metadata)
    meta = read_data_entry(meta_path)
    box_path = src / BBOX_FILE
    has_boxes = optional_file(box_path, "box list")  # a folder or a broken link there is an error, not "no boxes"
    if has_boxes:
        boxes = read_bbox_list(box_path, meta["image_id"], sizes=meta.set_index("image_id")[["meta_w", "meta_h"]])
    else:
        log.info("%s: no %s; the index has no boxes", src, BBOX_FILE)
        boxes = pd.DataFrame({c: pd.Series(dtype=float if c[0] in "xy" else str)
                              for c in ("image_id", "label", "x0", "y0", "x1", "y1")})
        boxes["line"] = pd.Series(dtype=int)
    if opts.split_file is not None:
        split, split_source = _assign_split_file(meta, opts), f"file:{Path(opts.split_file).resolve()}"
    else:
        split, split_source = _assign_official_split(meta, src, opts)
    meta["split"] = split
    box_split = boxes["image_id"].map(meta.set_index("image_id")["split"])
    outside = box_split.ne("test")
    if outside.any():
        first = boxes[outside].iloc[0]
        msg = (f"{box_path} line {first['line']}: {int(boxes[outside]['image_id'].nunique())} box image(s) are "
               f"not in the test split (first {first['image_id']!r} is in {box_split[outside].iloc[0]})")
        if opts.split_file is None:
            raise InputError(msg)
        log.warning("%s; evaluate localization on test boxes only", msg)
    check_with = meta
    if version == "2017" and optional_file(src / METADATA_FILES["v2020"], "metadata file") and len(boxes):
        check_with = read_data_entry(src / METADATA_FILES["v2020"])  # the v2020 labels agree with the boxes
    n_box_mismatch = check_box_labels(boxes, check_with[["image_id", *LABELS]], str(box_path))
    info = {
        "root": str(src),
        "source": "nih",
        "metadata": METADATA_FILES[version],
        "metadata_version": version,
        "split_source": split_source,
        "val_fraction": opts.val_fraction if opts.split_file is None else None,
        "seed": opts.seed,
        "box_label_mismatches": n_box_mismatch,
        "has_boxes": has_boxes,
    }
    return meta.drop(columns="line"), boxes.drop(columns="line"), info


def build_nih_index(src: str | Path, opts: NihOptions | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Index an NIH-layout folder. Returns ``(images, boxes, meta)`` ready for :func:`save_index`.

    :func:`read_nih_tables`, then every image is looked up under ``images/`` or ``images_*/images/``;
    missing files are an error unless ``allow_missing`` (then those images and their boxes are dropped).
    """
    opts = opts or NihOptions()
    return attach_image_files(*read_nih_tables(src, opts), allow_missing=opts.allow_missing)


def attach_image_files(images: pd.DataFrame, boxes: pd.DataFrame, info: dict[str, Any],
                       allow_missing: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Add ``path`` from the files under ``info["root"]``; drop absent images (and boxes) if allowed."""
    src = Path(info["root"])
    files = find_image_files(src)
    if not files:
        raise InputError(f"{src}: no image files under images/ or images_*/images/")
    images = images.assign(path=images["image_id"].map(files))
    n_all = len(images)
    images = apply_missing_images(images, images["path"].notna(), str(src), allow_missing)
    boxes = boxes[boxes["image_id"].isin(images["image_id"])]
    return images, boxes, {**info, "dropped_missing_files": int(n_all - len(images))}
