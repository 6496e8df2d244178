"""Read what ``agcl evaluate`` needs from an index, its cache and stage directories (plain pandas
reads of the contract files, so evaluation does not depend on the data package), with validation."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.boxes.geometry import BOX_COLUMNS
from agcl.errors import InputError
from agcl.evaluation.artifacts import read_heatmaps, read_predictions
from agcl.fingerprints import check_cache_matches, check_stage_matches, index_fingerprint
from agcl.labels import LABELS, canonical_label

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
    if not path.is_file():
        raise InputError(f"not found: {path}")
    df = pd.read_csv(path, dtype={"image_id": str})
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
    found = sorted(p for p in index_dir.glob("cache_*") if (p / "manifest.csv").is_file())
    if len(found) > 1:
        raise InputError(f"several caches in {index_dir} ({', '.join(p.name for p in found)}); choose one with --cache")
    return found[0] if found else None


def load_test_set(index_dir: Path, cache: Path | None = None) -> TestSet:
    """Test images, their GT boxes and original sizes (from the cache manifest)."""
    images = _read_csv(index_dir / "images.csv", ("image_id", "split", *LABELS))
    test = images.loc[images["split"] == "test"].reset_index(drop=True)
    if test.empty:
        raise InputError(f"{index_dir / 'images.csv'}: no image has split 'test'")
    boxes = _read_csv(index_dir / "boxes.csv", ("image_id", "label", *BOX_COLUMNS))
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
    sizes = _read_csv(cache_dir / "manifest.csv", ("image_id", "width", "height"))[["image_id", "width", "height"]]
    info_path = cache_dir / "cache.json"
    size = int(json.loads(info_path.read_text())["size"]) if info_path.is_file() else None
    source = str(cache_dir)
    need = sizes.set_index("image_id").reindex(gt["image_id"].unique())
    if need.isna().any().any():
        raise InputError(f"{source}: no image size for box image {need.index[need.isna().any(axis=1)][0]!r}")
    return TestSet(test, gt, sizes, size, source, index_fingerprint=fingerprint,
                   split_source=_split_source(index_dir / "index.json"))


def _split_source(meta_path: Path) -> str:
    """``split_source`` recorded by ``agcl index`` (``official`` for NIH's own lists); "" when unknown."""
    if not meta_path.is_file():
        return ""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{meta_path}: invalid JSON ({exc})") from None
    return str(meta.get("split_source", "")) if isinstance(meta, dict) else ""


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
