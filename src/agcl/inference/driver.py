"""The batched prediction loop: files in, a :class:`PredictionSet` out (plus overlays, when asked).

Bad inputs are rejected one by one (logged as one line naming the file) and the rest is processed;
the caller decides the exit code from ``result.failures``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agcl.boxes.generators import GENERATORS, BoxSettings
from agcl.errors import ConfigError, InputError
from agcl.inference.inputs import Failure, LoadedImage, iter_loaded, scan_inputs
from agcl.inference.predictor import (
    BOX_COLUMNS,
    BOX_GRID,
    PredictionSet,
    boxes_for_batch,
    empty_probabilities,
)
from agcl.labels import LABELS
from agcl.train.checkpoint import LoadedModel, check_heatmap_source, load_model, predict_batch

log = logging.getLogger(__name__)


class _OverlayWriter:
    """Writes ``overlays/<stem>__<label>.png`` per image; stems are made unique (``_2``, ``_3`` …)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: dict[str, int] = {}

    def _stem(self, image: str) -> str:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(image).stem) or "image"
        if len(stem.encode()) > 120:  # file names are at most 255 bytes: keep room for "__<label>_<n>.png"
            stem = stem[:80] + "-" + hashlib.sha1(stem.encode()).hexdigest()[:10]
        n = self.used.get(stem, 0) + 1
        self.used[stem] = n
        return stem if n == 1 else f"{stem}_{n}"

    def write(self, item: LoadedImage, probs: np.ndarray, cams: np.ndarray, boxes: pd.DataFrame) -> None:
        from agcl.viz.overlays import overlay, save_png

        stem = self._stem(item.image)
        labels = list(dict.fromkeys(boxes["label"])) or [LABELS[int(np.argmax(probs))]]
        for label in labels:
            k = LABELS.index(label)
            mine = boxes[boxes["label"] == label]
            rgb = overlay(item.original, cams[k], pred_boxes=mine[["x0", "y0", "x1", "y1"]].to_numpy(dtype=float),
                          pred_scores=mine["score"].to_numpy(dtype=float), box_frame=(item.width, item.height),
                          size=min(512, max(item.width, item.height)))
            save_png(self.folder / f"{stem}__{label}.png", rgb)


def predict_paths(
    loaded: LoadedModel,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    batch_size: int = 8,
    generator: str = "cam20",
    box_threshold: float = 0.5,
    box_grid: int = BOX_GRID,
    workers: int = 0,
    overlay_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    heatmap: str = "cam",
) -> PredictionSet:
    """Predict every image found in ``inputs`` (files and folders) with a loaded model.

    Args:
        loaded: from :func:`agcl.train.checkpoint.load_model`.
        inputs: image files (PNG/JPEG/DICOM) and folders (scanned recursively).
        batch_size: images per forward pass.
        generator: heatmap→box generator, ``cam20`` or ``wang2017`` (docs/evaluation.md, "Definitions").
        box_threshold: boxes are made for labels with probability >= this (0 = every label).
        box_grid: side of the grid the CAM is upsampled to before thresholding (capped at the input
            size S; 0 = S). Boxes are mapped from that grid to original pixels either way.
        workers: DataLoader processes decoding images ahead of the forward pass (0 = in this process).
        overlay_dir: when given, overlay PNGs are written there while predicting.
        progress: show a rich progress bar.
        heatmap: heatmap source: ``cam`` | ``gradcam`` | ``gradcampp`` | ``regression`` (a two-path
            checkpoint's regressed Ĥ); boxes and overlays use it.
    """
    from agcl.evaluation.settings import HEATMAP_SOURCES, check_choice

    check_choice("heatmap", heatmap, HEATMAP_SOURCES)
    check_heatmap_source(loaded, heatmap)
    check_choice("generator", generator, GENERATORS)
    from agcl.config.ranges import AT_LEAST_ONE, PIXELS, UNIT, WORKERS, check

    for option, value, allowed in (("--batch-size", batch_size, AT_LEAST_ONE), ("--box-grid", box_grid, PIXELS),
                                   ("--workers", workers, WORKERS), ("--box-threshold", box_threshold, UNIT)):
        check(option, value, allowed)
    files, failures = scan_inputs(inputs)
    for f in failures:
        log.warning("rejected: %s", f.error)
    if not files:
        raise InputError("no image files to predict (inputs: " + ", ".join(str(p) for p in inputs) + ")")
    grid = min(box_grid, loaded.image_size) if box_grid else loaded.image_size
    settings = BoxSettings(generator=generator, upsample_size=grid)
    writer = _OverlayWriter(Path(overlay_dir)) if overlay_dir is not None else None
    rows, box_frames, cam_list = [], [], []
    batch: list[LoadedImage] = []

    def flush() -> None:
        probs, cams = predict_batch(loaded, np.stack([b.resized for b in batch]), heatmap)
        finite = np.isfinite(probs).all(axis=1) & np.isfinite(cams.reshape(len(batch), -1)).all(axis=1)
        if not finite.all():  # never written as a result: NaN probabilities would read as "no finding"
            for item in (b for b, ok in zip(batch, finite, strict=True) if not ok):
                failures.append(Failure(item.image, f"{item.image}: the network gave NaN or infinite outputs"))
                log.warning("rejected: %s: the network gave NaN or infinite outputs", item.image)
            probs, cams = probs[finite], cams[finite]
            batch[:] = [b for b, ok in zip(batch, finite, strict=True) if ok]
            if not batch:
                return
        names = [b.image for b in batch]
        widths = np.array([b.width for b in batch], dtype=np.float64)
        heights = np.array([b.height for b in batch], dtype=np.float64)
        boxes = boxes_for_batch(names, probs, cams, widths, heights, settings, box_threshold)
        for i, item in enumerate(batch):
            rows.append([item.image, item.width, item.height, *probs[i].tolist()])
            if writer is not None:
                writer.write(item, probs[i], cams[i], boxes[boxes["image"] == item.image])
        box_frames.append(boxes)
        cam_list.append(cams)
        batch.clear()

    columns = [TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("predict", total=len(files))
        for chunk in iter_loaded(files, loaded.image_size, keep_original=writer is not None, batch_size=batch_size,
                                 workers=workers):
            for item in chunk:
                if isinstance(item, Failure):
                    log.warning("rejected: %s", item.error)
                    failures.append(item)
                else:
                    batch.append(item)
                    if len(batch) == batch_size:
                        flush()
                bar.advance(task)
        if batch:
            flush()
    probabilities = pd.DataFrame(rows, columns=empty_probabilities().columns) if rows else empty_probabilities()
    frames = [b for b in box_frames if not b.empty]
    boxes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BOX_COLUMNS)
    h, w = (cam_list[0].shape[-2:] if cam_list else (0, 0))
    heatmaps = np.concatenate(cam_list) if cam_list else np.zeros((0, len(LABELS), h, w), np.float32)
    info = {"checkpoint": loaded.checkpoint, "model_spec": loaded.spec, "image_size": loaded.image_size,
            "box_threshold": box_threshold, "boxes": settings.describe(), "heatmap": heatmap,
            "frame": "original image pixels"}
    fail_df = pd.DataFrame([(f.image, f.error) for f in failures], columns=["image", "error"])
    return PredictionSet(probabilities, boxes, heatmaps, fail_df, info)


def predict_checkpoint(
    checkpoint: str | os.PathLike[str],
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str] | None = None,
    overlays: bool = False,
    batch_size: int = 8,
    device: str = "auto",
    generator: str = "cam20",
    box_threshold: float = 0.5,
    box_grid: int = BOX_GRID,
    workers: int = 0,
    progress: bool = False,
    heatmap: str = "cam",
) -> PredictionSet:
    """Load a checkpoint, predict files/folders, and (with ``out``) write the output files.

    This is what ``agcl predict`` and :func:`agcl.predict` run. Rejected inputs are listed in
    ``result.failures`` (and ``failures.csv``); they never stop the others.
    """
    from agcl.inference.outputs import check_out_dir, claim_out_dir, clear_overlays, write_outputs
    from agcl.inference.predictor import resolve_out
    from agcl.runlock import folder_lock

    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    inputs = list(inputs)
    out_dir = resolve_out(out) if out is not None else None
    if overlays and out_dir is None:
        raise ConfigError("overlays need an output folder (out=...)")
    if out_dir is not None:
        check_out_dir(out_dir, inputs, checkpoint, overlays)
    loaded = load_model(checkpoint, device)

    def run() -> PredictionSet:
        return predict_paths(loaded, inputs, batch_size=batch_size, generator=generator, box_threshold=box_threshold,
                             box_grid=box_grid, workers=workers, progress=progress, heatmap=heatmap,
                             overlay_dir=(out_dir / "overlays") if overlays and out_dir is not None else None)

    if out_dir is None:
        return run()
    with folder_lock(out_dir):
        claim_out_dir(out_dir)
        clear_overlays(out_dir / "overlays")
        result = run()
        write_outputs(result, out_dir)
    return result
