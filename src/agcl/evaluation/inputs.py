"""Read what ``agcl evaluate`` needs from an index, its cache and stage directories (plain pandas
reads of the contract files, so evaluation does not depend on the data package), with validation."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.boxes.geometry import BOX_COLUMNS, box_problems
from agcl.config.ranges import IMAGE_SIZE, check
from agcl.errors import ConfigError, InputError
from agcl.evaluation.artifacts import read_heatmaps, read_predictions, read_table
from agcl.fingerprints import (
    check_cache_matches,
    check_files_unchanged,
    check_stage_matches,
    index_fingerprint,
)
from agcl.labels import LABELS, canonical_label
from agcl.paths import first_escaping, read_text

log = logging.getLogger(__name__)


@dataclass
class TestSet:
    """The test split of an index. images: image_id (+ patient_id) + 14 labels; gt: test boxes; sizes:
    image_id, width, height (cache manifest); cache_size: S of the cache (None when cache.json is absent);
    split_source: how the index split the data (``index.json``'s ``split_source``, e.g. ``official``)."""

    images: pd.DataFrame
    gt: pd.DataFrame
    sizes: pd.DataFrame
    cache_size: int | None
    source: str
    index_fingerprint: str | None = None
    split_source: str = ""


def _read_csv(path: Path, required) -> pd.DataFrame:
    if not os.path.lexists(path):
        raise InputError(f"not found: {path}")
    df = read_table(path, path.stem, {"image_id": str})
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing}")
    return df


def find_cache(index_dir: Path, cache: Path | None) -> Path | None:
    """The cache to read sizes from: ``cache`` if given, else the single ``INDEX_DIR/cache_*`` folder."""
    if cache is not None:
        if not (cache / "manifest.csv").is_file():
            raise InputError(f"{cache} is not an image cache (no manifest.csv)")
        return cache
    found = sorted(p for p in index_dir.glob("cache_*") if (p / "manifest.csv").is_file() or (p / "cache.json").is_file())
    if len(found) > 1:
        raise InputError(f"several caches in {index_dir} ({', '.join(p.name for p in found)}); choose one with --cache")
    return found[0] if found else None


def load_test_set(index_dir: Path, cache: Path | None = None) -> TestSet:
    """Test images, their GT boxes and original sizes (from the cache manifest)."""
    images = _read_csv(index_dir / "images.csv", ("image_id", "split", *LABELS))
    test = images.loc[images["split"] == "test"].reset_index(drop=True)
    if test.empty:
        raise InputError(f"{index_dir / 'images.csv'}: no image has split 'test'")
    labels = test[list(LABELS)].apply(pd.to_numeric, errors="coerce")
    if not labels.isin([0, 1]).all().all():
        raise InputError(f"{index_dir / 'images.csv'}: label columns must be 0 or 1")
    test[list(LABELS)] = labels.astype(int)
    boxes = _read_csv(index_dir / "boxes.csv", ("image_id", "label", *BOX_COLUMNS))
    boxes[list(BOX_COLUMNS)] = boxes[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    try:
        boxes["label"] = [canonical_label(str(v), where=f"{index_dir / 'boxes.csv'} row {i + 2}")
                          for i, v in enumerate(boxes["label"])]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    in_test = boxes["image_id"].isin(test["image_id"])
    if (~in_test).any():
        log.warning("ignoring %d GT box(es) on non-test images (evaluation uses test boxes only)", int((~in_test).sum()))
    gt = boxes.loc[in_test].reset_index(drop=True)
    cache_dir = find_cache(index_dir, cache)
    if cache_dir is None:
        # images.csv meta_w/meta_h may describe another frame than boxes.csv (e.g. a downscaled copy of
        # NIH keeps the 1024 metadata), so only the decoded sizes of the cache manifest are trusted.
        raise InputError(f"no image cache in {index_dir} (the manifest gives the image sizes boxes are mapped to); "
                         f"run `agcl prepare {index_dir}` or pass --cache")
    fingerprint = index_fingerprint(index_dir) if (index_dir / "index.json").is_file() else None
    if fingerprint is not None:
        check_cache_matches(cache_dir, index_dir, fingerprint)
    manifest = _read_csv(cache_dir / "manifest.csv", ("image_id", "width", "height"))
    if fingerprint is not None and "path" in images.columns:  # the box images' sizes must still be current
        rows = manifest[manifest["image_id"].isin(set(gt["image_id"]))]
        rel = images.set_index("image_id")["path"].reindex(rows["image_id"]).astype(str)
        pos = first_escaping(rel)
        if pos is not None:
            raise InputError(f"{index_dir / 'images.csv'}: image path {rel.iloc[pos]!r} must stay inside the index root")
        root = Path(_index_meta(index_dir / "index.json").get("root", index_dir))
        check_files_unchanged(cache_dir, rows, [root / p for p in rel], index_dir)
    sizes = manifest[["image_id", "width", "height"]]
    size = _cache_size(cache_dir / "cache.json")
    source = str(cache_dir)
    need = sizes.set_index("image_id").reindex(gt["image_id"].unique())
    if need.isna().any().any():
        raise InputError(f"{source}: no image size for box image {need.index[need.isna().any(axis=1)][0]!r}")
    wh = sizes.set_index("image_id").reindex(gt["image_id"]).to_numpy(dtype=float)
    bad = box_problems(gt[list(BOX_COLUMNS)].to_numpy(dtype=float), wh[:, 0], wh[:, 1])
    if bad.any():  # boxes.csv edited by hand, or an image replaced by one of another size
        row = gt[bad].iloc[0]
        raise InputError(f"{index_dir / 'boxes.csv'}: box of {row['image_id']!r} {row['label']} "
                         f"{[float(row[c]) for c in BOX_COLUMNS]} does not fit its {wh[bad][0][0]:g}x"
                         f"{wh[bad][0][1]:g} image (not finite, empty, outside it or far beyond it)")
    return TestSet(test, gt, sizes, size, source, index_fingerprint=fingerprint,
                   split_source=_split_source(index_dir / "index.json"))


def _cache_size(info_path: Path) -> int | None:
    """Side S recorded in ``cache.json`` (None when there is no cache.json)."""
    if not os.path.lexists(info_path):
        return None
    try:
        size = json.loads(read_text(info_path, "cache file"))["size"]
        return int(check("cache.json size", size, IMAGE_SIZE))
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise InputError(f"{info_path}: not a valid cache.json ({exc}); re-run `agcl prepare`") from None


def _index_meta(meta_path: Path) -> dict:
    """``index.json`` as a dict ({} when there is none)."""
    if not os.path.lexists(meta_path):
        return {}
    try:
        meta = json.loads(read_text(meta_path, "index file"))
    except ValueError as exc:
        raise InputError(f"{meta_path}: invalid JSON ({exc})") from None
    return meta if isinstance(meta, dict) else {}


def _split_source(meta_path: Path) -> str:
    """``split_source`` recorded by ``agcl index`` (``official`` for NIH's own lists); "" when unknown."""
    return str(_index_meta(meta_path).get("split_source", ""))


def load_stage(stage_dir: Path, test: TestSet, gt: pd.DataFrame,
               need_heatmaps: bool = True) -> tuple[pd.DataFrame, list[str], np.ndarray | None]:
    """predictions.csv + heatmaps of a stage, checked against the test split and the box images
    (``need_heatmaps=False``: predictions only; the heatmaps come from elsewhere, e.g. Grad-CAM)."""
    if test.index_fingerprint is not None:
        check_stage_matches(stage_dir, test.index_fingerprint)
    preds = read_predictions(stage_dir)
    missing = ~test.images["image_id"].isin(preds["image_id"])
    if missing.any():
        raise InputError(f"{stage_dir / 'predictions.csv'}: no prediction for {int(missing.sum())} test image(s), "
                         f"e.g. {test.images.loc[missing, 'image_id'].iloc[0]!r}")
    if not need_heatmaps:
        return preds, [], None
    ids, maps = read_heatmaps(stage_dir)
    if maps.shape[1] != len(LABELS):
        raise InputError(f"{stage_dir / 'heatmaps.npy'}: {maps.shape[1]} maps per image, expected {len(LABELS)}")
    lacking = sorted(set(gt["image_id"]) - set(ids))
    if lacking:
        raise InputError(f"{stage_dir / 'heatmaps_ids.csv'}: no heatmap for {len(lacking)} box image(s), e.g. {lacking[0]!r}")
    return preds, ids, maps
