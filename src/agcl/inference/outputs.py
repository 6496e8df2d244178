"""Files written by ``agcl predict --out DIR`` (each atomically, only inside DIR).

- ``predictions.csv``: ``image, width, height`` + one probability column per label (LABELS order).
- ``boxes.csv``: ``image, label, x0, y0, x1, y1, score`` — xyxy in ORIGINAL image pixels.
- ``predictions.json``: the settings, and per image its size, probabilities and boxes.
- ``heatmaps.npy``: float16 raw CAMs ``[N, 14, h, w]`` (image frame, :mod:`agcl.cam.align`), rows as in
  ``heatmaps_index.csv``.
- ``failures.csv``: ``image, error`` for every rejected input (header only when none failed).
- ``overlays/<name>__<label>.png`` with ``--overlays`` (written while predicting).
- ``.agcl-predict``: marks DIR as agcl predict's own (written before the files above; see :func:`claim_out_dir`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.errors import InputError
from agcl.inference.predictor import PredictionSet
from agcl.io import write_json_atomic, write_text_atomic, write_with_atomic
from agcl.labels import LABELS
from agcl.paths import check_apart, real_folder, remove_own, same_file

log = logging.getLogger(__name__)


#: The files ``agcl predict -o DIR`` writes at the top of DIR.
OUTPUT_FILES: tuple[str, ...] = ("predictions.csv", "boxes.csv", "failures.csv", "heatmaps_index.csv",
                                 "heatmaps.npy", "predictions.json")
#: Written into DIR before the output files: they are then known as agcl predict's own (a re-run replaces them).
MARKER = ".agcl-predict"
#: The names of overlay PNGs (``<stem>__<Label>.png``): the only files a re-run removes from ``overlays/``.
OVERLAY_PATTERN = r".+__(?:" + "|".join(re.escape(label) for label in LABELS) + r")\.png"


def check_out_dir(out: Path, inputs: Sequence[str | os.PathLike[str]], checkpoint: str | os.PathLike[str],
                  overlays: bool) -> None:
    """Refuse, before anything is written, an output that would replace an input: an output file that is an
    input file or the checkpoint, or overlays written into a folder that is being scanned for images."""
    check_apart([(f"--out ({name})", out / name) for name in OUTPUT_FILES],
                [("--checkpoint", checkpoint), *[("input", p) for p in inputs if Path(p).is_file()]])
    if overlays:
        target = Path(out).absolute() / "overlays"
        for p in inputs:
            folder = Path(p)
            if folder.is_dir() and (target == folder.absolute() or folder.absolute() in target.parents
                                    or same_file(target, folder)):
                raise InputError(f"--out {out}: its overlays/ would be inside the input folder {folder}, where the "
                                 "next run would read them as images; choose an --out outside it")


def claim_out_dir(out: Path) -> None:
    """Refuse a folder that holds one of :data:`OUTPUT_FILES` not written by ``agcl predict`` (no
    :data:`MARKER`, e.g. a stage folder's ``predictions.csv``) or whose ``overlays`` is not a real folder."""
    real_folder(out / "overlays", "overlay folder")
    if not (out / MARKER).is_file():
        foreign = [name for name in OUTPUT_FILES if os.path.lexists(out / name)]
        if foreign:
            raise InputError(f"--out {out} holds {', '.join(foreign)} that agcl predict did not write; choose "
                             "another output folder")


def clear_overlays(folder: Path) -> None:
    """Remove a previous run's overlay PNGs (only files named like agcl's overlays; never through a
    symbolic link) and the folder when nothing else is left in it, so a reused output folder never
    mixes two runs."""
    stale = remove_own(folder, pattern=OVERLAY_PATTERN)
    if stale:
        log.info("removed %d overlay(s) of a previous run from %s", len(stale), folder)
    if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        folder.rmdir()


def prediction_records(result: PredictionSet) -> list[dict]:
    """Per-image JSON records: image, width, height, probabilities {label: p}, boxes [...]."""
    by_image = {k: g for k, g in result.boxes.groupby("image", sort=False)}
    records = []
    for row in result.probabilities.itertuples(index=False):
        rec = row._asdict()
        boxes = by_image.get(rec["image"])
        records.append({
            "image": rec["image"],
            "width": int(rec["width"]),
            "height": int(rec["height"]),
            "probabilities": {lab: float(getattr(row, lab)) for lab in LABELS},
            "boxes": [] if boxes is None else [
                {k: (float(v) if k not in ("image", "label") else v) for k, v in b.items() if k != "image"}
                for b in boxes.to_dict(orient="records")
            ],
        })
    return records


def write_outputs(result: PredictionSet, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every table of ``result`` into ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).is_file():  # first: the files below are then known to be agcl predict's own
        write_text_atomic(out / MARKER, "agcl predict writes predictions.csv, boxes.csv, failures.csv, "
                                        "heatmaps*.{csv,npy}, predictions.json and overlays/ here\n")
    written = []

    def csv(name: str, df: pd.DataFrame) -> None:
        write_with_atomic(out / name, lambda tmp: df.to_csv(tmp, index=False))
        written.append(out / name)

    csv("predictions.csv", result.probabilities)
    csv("boxes.csv", result.boxes)
    csv("failures.csv", result.failures)
    csv("heatmaps_index.csv", pd.DataFrame({"row": np.arange(len(result.probabilities)),
                                            "image": result.probabilities["image"].to_numpy()}))
    cams = result.heatmaps.astype(np.float16)

    def save_npy(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file handle: np.save(path) would append ".npy" to the temp name
            np.save(fh, cams)

    write_with_atomic(out / "heatmaps.npy", save_npy)
    written.append(out / "heatmaps.npy")
    write_json_atomic(out / "predictions.json", {
        "settings": result.settings,
        "labels": list(LABELS),
        "images": prediction_records(result),
        "failures": result.failures.to_dict(orient="records"),
    })
    written.append(out / "predictions.json")
    return written
