"""What every pipeline stage needs: the config, the run directory, the index, the cache, the
severity table and the optional diagnostic truth — loaded once and handed to each stage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agcl.boxes.geometry import MAX_COORD, box_problems
from agcl.config import to_dict
from agcl.errors import InputError, one_line
from agcl.labels import LABELS, UnknownLabelError, canonical_label
from agcl.paths import regular_file
from agcl.pipeline.settings import PipelineConfig

log = logging.getLogger(__name__)

SEVERITY_COLUMNS = ("image_id", "label", "status", "severity")


@dataclass
class RunContext:
    """Shared, read-only inputs of one pipeline run.

    Attributes:
        cfg: the resolved config. run_dir: the run directory.
        index_dir / cache_dir: where the index and the image cache live (resolved, absolute).
    """

    cfg: PipelineConfig
    run_dir: Path
    index_dir: Path
    cache_dir: Path

    @cached_property
    def index(self):
        from agcl.data.index import load_index

        return load_index(self.index_dir)

    @cached_property
    def cache(self):
        from agcl.data.cache import ImageCache

        return ImageCache.open(self.cache_dir, expect_size=self.cfg.data.image_size, expect_index=self.index)

    @cached_property
    def images(self) -> pd.DataFrame:
        """images.csv rows (row order = cache order)."""
        return self.index.images

    def split(self, name: str) -> pd.DataFrame:
        return self.images[self.images["split"] == name]

    @cached_property
    def severity(self) -> pd.DataFrame | None:
        """The joined severity table (``image_id,label,status,severity``) or None when not configured."""
        path = self.cfg.source.severity
        if not path:
            return None
        return load_severity(Path(path), set(self.images["image_id"].astype(str)))

    @cached_property
    def truth(self) -> pd.DataFrame | None:
        """Diagnostic truth boxes of training images (never used for training or selection)."""
        frames = []
        if self.cfg.source.truth_boxes:
            frames.append(load_truth(Path(self.cfg.source.truth_boxes)))
        boxes = self.index.boxes
        if boxes is not None and len(boxes):
            frames.append(boxes[["image_id", "label", "x0", "y0", "x1", "y1"]])
        if not frames:
            return None
        out = pd.concat(frames, ignore_index=True)
        train_ids = set(self.split("train")["image_id"].astype(str))
        out = out[out["image_id"].astype(str).isin(train_ids)]
        return out if len(out) else None

    @cached_property
    def env(self):
        from agcl.train.device import setup_runtime

        return setup_runtime(self.cfg.runtime, self.cfg.model.backbone)

    def fingerprints(self) -> dict[str, str | None]:
        """What a finished stage records in its DONE: the index and image cache it read
        (:func:`agcl.fingerprints.check_run_stages` refuses to reuse it once either changes)."""
        return {"index_fingerprint": self.index.fingerprint,
                "cache_fingerprint": self.cache.info.get("content_fingerprint")}

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def source_sizes(self, image_ids) -> tuple[np.ndarray, np.ndarray]:
        """Original (width, height) of each image (the frame of boxes). Shapes: -> [N], [N] float64."""
        sizes = np.array([self.cache.source_size(str(i)) for i in image_ids], dtype=np.float64).reshape(-1, 2)
        return sizes[:, 0], sizes[:, 1]

    def dataset(self, rows: pd.DataFrame, *, train: bool = False, targets=None):
        """A :class:`agcl.data.dataset.CxrDataset` over ``rows``; augmentation (``data.augment``) only when
        ``train``; ``targets`` = seed heatmaps ``{image_id: (H [14,h,w], 1_c [14])}`` for the two-path net
        (:func:`agcl.train.data.stage_dataset`, the builder ``agcl train`` uses too)."""
        from agcl.train.data import stage_dataset

        return stage_dataset(rows, self.cache, self.cfg, train=train, targets=targets, device=self.env.device)

    def model_spec(self, kind: str) -> dict[str, Any]:
        spec = {"kind": kind, "backbone": self.cfg.model.backbone, "image_size": self.cfg.data.image_size,
                "num_classes": 2 if kind == "binary" else len(LABELS), "output_stride": self.cfg.model.output_stride}
        if kind == "two_path":
            spec["regression"] = self.cfg.model.regression
            if self.cfg.model.regression == "separate":
                spec["regression_kernel"] = self.cfg.model.regression_kernel
        return spec

    def feature_geometry(self) -> tuple[int, float]:
        """``(stride, cell_centre)`` of the configured backbone's CAM grid (:mod:`agcl.cam.align`)."""
        from agcl.models.backbones import feature_geometry

        return feature_geometry(self.cfg.model.backbone, self.cfg.model.output_stride)


def load_severity(path: Path, known_ids: set[str] | None) -> pd.DataFrame:
    """Read a severity table and join it to images.

    Accepts the miner's table (``id,label,status,severity[,evidence]``, where ``id`` is the image id —
    as for a ``reports.csv`` keyed by image) or an already joined one (``image_id,label,...``).
    Rows of images that are not in the index are dropped (counted in the log).

    Raises:
        InputError: unreadable file, missing columns, unknown label/status/severity (naming the row).
    """
    regular_file(path, "severity table (source.severity)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read severity table {path}: {one_line(str(exc), 300)}") from None
    if "image_id" not in df.columns and "id" in df.columns:
        df = df.rename(columns={"id": "image_id"})
    missing = [c for c in SEVERITY_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"severity table {path} lacks column(s) {missing}; expected id,label,status,severity")
    df = df[list(SEVERITY_COLUMNS)].copy()
    labels = []
    for i, lab in enumerate(df["label"]):
        try:
            labels.append(canonical_label(lab, where=f"{path} row {i + 2}"))
        except UnknownLabelError as exc:
            raise InputError(str(exc)) from None
    df["label"] = labels
    for col, allowed in (("status", {"positive", "negative", "uncertain"}),
                         ("severity", {"mild", "moderate", "severe", "none", ""})):
        bad = ~df[col].isin(allowed)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path} row {row + 2}: invalid {col} {df[col].iloc[row]!r} "
                             f"(expected one of {sorted(a for a in allowed if a)})")
    df["severity"] = df["severity"].replace("", "none")
    if known_ids is None:
        return df.reset_index(drop=True)
    keep = df["image_id"].isin(known_ids)
    if (~keep).any():
        log.info("severity table %s: %d of %d rows name images outside the index (ignored)", path,
                 int((~keep).sum()), len(df))
    return df[keep].reset_index(drop=True)


def load_truth(path: Path) -> pd.DataFrame:
    """Read a diagnostic truth box CSV ``image_id,label,x0,y0,x1,y1`` (extra columns ignored)."""
    regular_file(path, "truth box file (source.truth_boxes)")
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "label": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read truth boxes {path}: {one_line(str(exc), 300)}") from None
    need = ["image_id", "label", "x0", "y0", "x1", "y1"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"truth box file {path} lacks column(s) {missing}")
    df = df[need].copy()
    try:
        df["label"] = [canonical_label(str(x)) for x in df["label"]]
    except UnknownLabelError as exc:
        raise InputError(f"{path}: {exc}") from None
    xyxy = df[["x0", "y0", "x1", "y1"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = box_problems(xyxy)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path} row {row + 2}: box {xyxy[row].tolist()} needs finite coordinates with x1 > x0, "
                         f"y1 > y0, within ±{MAX_COORD:g} pixels")
    df[["x0", "y0", "x1", "y1"]] = xyxy
    return df
