"""What the report needs beyond the run directory: test labels, boxes, image sizes and pixels.

The run's ``config.yaml`` names the index (``data.index_dir``) and the cache (``data.cache_dir``, or
``<index_dir>/cache_<image_size>``); the index gives test labels and ground-truth boxes, the cache
manifest the original image sizes (the boxes' frame) and the pixels shown in the gallery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.errors import InputError
from agcl.labels import LABELS
from agcl.viz.rundata import RunData, read_csv


@dataclass
class RunSources:
    """Lazily loaded inputs of one run (None where unavailable; ``notes`` say why)."""

    run: RunData
    index_dir: Path | None = None
    labels: pd.DataFrame | None = None  # test images: index image_id, columns LABELS
    boxes: pd.DataFrame | None = None  # image_id, label, x0, y0, x1, y1 (original pixels)
    sizes: pd.DataFrame | None = None  # image_id, width, height
    cache: object | None = None
    notes: list[str] = field(default_factory=list)

    def predictions(self, stage: str) -> pd.DataFrame:
        """``stage_<stage>/predictions.csv`` indexed by image_id, one column per label."""
        from agcl.evaluation.artifacts import read_predictions

        return read_predictions(self.run.stage_dir(stage)).set_index("image_id")

    def heatmaps(self, stage: str) -> tuple[np.ndarray, list[str]]:
        """Raw CAM stack and its row ids (see :mod:`agcl.evaluation.artifacts`).

        Shapes: ``[N, 14, h, w]`` float16/float32, cache frame.
        """
        from agcl.evaluation.artifacts import read_heatmaps

        ids, cams = read_heatmaps(self.run.stage_dir(stage))
        return cams, [str(i) for i in ids]

    def stage_boxes(self, stage: str) -> pd.DataFrame | None:
        """The stage's predicted boxes (original pixels), or None when it wrote none."""
        from agcl.evaluation.artifacts import read_boxes

        path = self.run.stage_dir(stage) / "boxes.csv"
        return read_boxes(path) if path.is_file() else None

    def image(self, image_id: str) -> np.ndarray:
        """Grey pixels of one image: the cache copy when available, else the original file.

        Shapes: ``[S, S]`` (cache) or ``[H, W]`` (original) uint8.
        """
        if self.cache is not None:
            return np.asarray(self.cache.get(self.cache.row_of(image_id)))
        if self.index_dir is None:
            raise InputError(f"no cache or index to read image {image_id} from")
        from agcl.data.images import read_image
        from agcl.data.index import load_index

        return read_image(load_index(self.index_dir).abs_path(image_id))


def _locate(run: RunData) -> tuple[Path | None, Path | None, str | None]:
    """Index and cache folders of a run, resolved exactly as the pipeline resolves them."""
    from agcl.errors import AgclError
    from agcl.pipeline.driver import load_pipeline_config, make_context

    path = run.root / "config.yaml"
    if not path.is_file():
        return None, None, "config.yaml not found, so the index and cache are unknown."
    try:
        ctx = make_context(load_pipeline_config(path), run.root)
    except AgclError as exc:
        return None, None, f"config.yaml not usable ({exc})."
    return ctx.index_dir, ctx.cache_dir, None


def open_sources(run: RunData) -> RunSources:
    """Find and load the index and cache named by the run's config (missing pieces become notes)."""
    src = RunSources(run=run)
    index_dir, cache_dir, problem = _locate(run)
    if problem:
        src.notes.append(problem)
    if index_dir is None or not (index_dir / "images.csv").is_file():
        if index_dir is not None:
            src.notes.append(f"index not found at {index_dir}.")
        return src
    src.index_dir = index_dir
    index = None
    if (index_dir / "index.json").is_file():  # the run's outputs and the cache must come from this index
        from agcl.data.index import load_index
        from agcl.fingerprints import check_run_stages

        index = load_index(index_dir)
        check_run_stages(run.root, index.fingerprint)
        images = index.images.copy()
    else:
        images = read_csv(index_dir / "images.csv")
    images["image_id"] = images["image_id"].astype(str)
    test = images[images["split"] == "test"] if "split" in images.columns else images
    src.labels = test.set_index("image_id")[list(LABELS)]
    if (index_dir / "boxes.csv").is_file():
        boxes = index.boxes.copy() if index is not None else read_csv(index_dir / "boxes.csv")
        src.boxes = boxes.assign(image_id=boxes["image_id"].astype(str))
    if cache_dir is not None and (cache_dir / "cache.json").is_file():
        from agcl.data.cache import ImageCache
        from agcl.fingerprints import check_run_stages

        src.cache = ImageCache.open(cache_dir, expect_index=index)  # same index, no image changed since
        if index is not None:
            check_run_stages(run.root, index.fingerprint, src.cache.info.get("content_fingerprint"))
        manifest = src.cache.manifest
        src.sizes = manifest.assign(image_id=manifest["image_id"].astype(str))[["image_id", "width", "height"]]
    else:
        src.notes.append(f"image cache not found at {cache_dir}; gallery disabled.")
    return src


def severity_note(run: RunData) -> str | None:
    """A loud note when the run had no severity table, i.e. S1 was empty and AGCL degraded to AGL.

    Decided from ``source.severity`` in config.yaml (empty = no table) and, when seeds exist, from
    whether any seed came from rule S1.
    """
    table = run.config_value("source.severity", None)
    counts = run.seed_counts()
    no_s1 = not counts.empty and not (counts["rule"] == "S1").any()
    if run.config and not table:
        return ("No severity table was given (source.severity is empty): S1 seeds were empty and the "
                "curriculum had no severity order, so AGCL degraded to AGL (paper §2.2–2.3).")
    if no_s1:
        return "No seed came from rule S1 (severe|moderate): AGCL ran without severity information, like AGL."
    return None
