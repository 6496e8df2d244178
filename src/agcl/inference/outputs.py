"""Files written by ``agcl predict --out DIR`` (each atomically, only inside DIR).

- ``predictions.csv``: ``image, width, height`` + one probability column per label (LABELS order).
- ``boxes.csv``: ``image, label, x0, y0, x1, y1, score`` — xyxy in ORIGINAL image pixels.
- ``predictions.json``: the settings, and per image its size, probabilities and boxes.
- ``heatmaps.npy``: float16 raw CAMs ``[N, 14, h, w]`` (image frame, :mod:`agcl.cam.align`), rows as in
  ``heatmaps_index.csv``.
- ``failures.csv``: ``image, error`` for every rejected input (header only when none failed).
- ``overlays/<name>__<label>.png`` with ``--overlays`` (written while predicting).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from agcl.inference.predictor import PredictionSet
from agcl.io import write_json_atomic, write_with_atomic
from agcl.labels import LABELS


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
