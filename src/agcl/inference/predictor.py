"""Prediction on arbitrary image files with a trained checkpoint (the core of ``agcl predict``).

A checkpoint's ``model_spec`` rebuilds the network and gives the input size S. Each image is decoded
to grey, resized to S×S exactly like the image cache, and run through the network in batches; the
class heatmaps (raw CAM, Eq. 1) become boxes through a named generator and are mapped back to the
ORIGINAL image's pixels (docs/evaluation.md, "Definitions"; docs/dev/CONTRACTS.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.boxes.generators import BoxSettings, heatmaps_to_boxes
from agcl.errors import InputError
from agcl.labels import LABELS

log = logging.getLogger(__name__)

BOX_COLUMNS = ["image", "label", "x0", "y0", "x1", "y1", "score"]
#: Default side of the grid boxes are found on (``agcl predict --box-grid``): thresholding the CAM
#: upsampled to 128² instead of S² keeps boxes nearly free (docs/benchmarks.md); they are mapped to
#: original pixels either way, so only their granularity (S/128 input pixels) changes.
BOX_GRID = 128


def boxes_for_batch(
    names: list[str], probs: np.ndarray, cams: np.ndarray, widths: np.ndarray, heights: np.ndarray,
    settings: BoxSettings, box_threshold: float,
) -> pd.DataFrame:
    """Boxes for every (image, label) whose probability is at least ``box_threshold``.

    Boxes come from ``settings`` (generator ``wang2017``/``cam20``, upsampling to S) and are mapped to
    each image's original pixels; ``score`` is the generator's (raw heatmap maximum in the component).

    Shapes: probs ``[B, 14]``; cams ``[B, 14, h, w]``; widths/heights ``[B]`` original pixels.
    """
    img_idx, lab_idx = np.nonzero(probs >= box_threshold)
    if len(img_idx) == 0:
        return pd.DataFrame(columns=BOX_COLUMNS)
    det = heatmaps_to_boxes(cams[img_idx, lab_idx], widths[img_idx], heights[img_idx], settings)
    rows = pd.DataFrame(det.boxes, columns=["x0", "y0", "x1", "y1"])
    rows.insert(0, "label", [LABELS[lab_idx[m]] for m in det.map_index])
    rows.insert(0, "image", [names[img_idx[m]] for m in det.map_index])
    rows["score"] = det.scores
    return rows[BOX_COLUMNS]


@dataclass
class PredictionSet:
    """Everything ``agcl predict`` computes (the Python API returns it too).

    Attributes:
        probabilities: one row per processed image: ``image, width, height`` + one column per label.
        boxes: ``image, label, x0, y0, x1, y1, score`` in ORIGINAL image pixels.
        heatmaps: raw CAMs, rows aligned with ``probabilities``.
        failures: ``image, error`` for every rejected input.
        settings: generator, threshold, checkpoint and model spec used.

    Shapes: heatmaps ``[N, 14, h, w]`` float32, image frame (cell (i,j) = rows i·S/h..(i+1)·S/h of the
    S×S image; :mod:`agcl.cam.align`).
    """

    probabilities: pd.DataFrame
    boxes: pd.DataFrame
    heatmaps: np.ndarray
    failures: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def boxes_of(self, image: str) -> pd.DataFrame:
        """Boxes of one image (by the path string in ``probabilities.image``)."""
        return self.boxes[self.boxes["image"] == image].reset_index(drop=True)


def empty_probabilities() -> pd.DataFrame:
    return pd.DataFrame(columns=["image", "width", "height", *LABELS])


def resolve_out(out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} exists and is not a folder")
    return path
