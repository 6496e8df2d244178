"""A tiny synthetic NIH-like dataset for pipeline tests (index + cache + severity + truth), in seconds.

Lesions are bright discs whose radius grows with severity, at a class-specific place; "No Finding"
images have none. Everything is a pure function of ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from agcl.labels import LABELS

CLASSES = ("Effusion", "Mass", "Cardiomegaly")
CENTRES = {"Effusion": (0.75, 0.7), "Mass": (0.3, 0.35), "Cardiomegaly": (0.5, 0.6)}
RADIUS = {"mild": 0.07, "moderate": 0.12, "severe": 0.18}


def build(root: Path, n: int = 96, size: int = 64, seed: int = 0, severity: bool = True,
          test_boxes: bool = True) -> dict[str, Path]:
    """Write images, an index, a 32 px cache, a severity table and truth boxes under ``root``."""
    from agcl.data.cache import prepare_cache
    from agcl.data.index import save_index

    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    rows, sev_rows, truth, boxes = [], [], [], []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        iid = f"{i:05d}_000.png"
        split = "train" if i % 10 < 6 else ("val" if i % 10 < 8 else "test")
        labels = {c: 0 for c in LABELS}
        pix = rng.normal(0.3, 0.05, (size, size))
        present = [c for c in CLASSES if rng.random() < 0.35] if i % 3 else []
        for c in present:
            grade = ("mild", "moderate", "severe")[int(rng.integers(3))]
            cx, cy = CENTRES[c]
            cx, cy = cx + rng.normal(0, 0.04), cy + rng.normal(0, 0.04)
            r = RADIUS[grade]
            pix[(xx - cx) ** 2 + (yy - cy) ** 2 < r**2] += 0.5
            labels[c] = 1
            box = (max(cx - r, 0) * size, max(cy - r, 0) * size, min(cx + r, 1) * size, min(cy + r, 1) * size)
            truth.append({"image_id": iid, "label": c, "severity": grade, "x0": box[0], "y0": box[1], "x1": box[2],
                          "y1": box[3]})
            if split == "test" and test_boxes:
                boxes.append({"image_id": iid, "label": c, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]})
            if rng.random() < 0.8:  # most positives have a graded report
                sev_rows.append({"id": iid, "label": c, "status": "positive", "severity": grade, "evidence": grade})
        Image.fromarray((np.clip(pix, 0, 1) * 255).astype(np.uint8), "L").save(img_dir / iid)
        rows.append({"image_id": iid, "path": f"images/{iid}", "patient_id": str(i), "follow_up": 0, "age": 50,
                     "sex": "M", "view": "PA", "meta_w": size, "meta_h": size, **labels,
                     "no_finding": int(not present), "split": split})
    images = pd.DataFrame(rows)
    index_dir = save_index(root / "index", images, pd.DataFrame(boxes, columns=["image_id", "label", "x0", "y0", "x1", "y1"]),
                           {"root": str(root), "source": "csv"})
    prepare_cache(index_dir, size=32, progress=False, workers=1)
    sev_path = root / "severity.csv"
    pd.DataFrame(sev_rows, columns=["id", "label", "status", "severity", "evidence"]).to_csv(sev_path, index=False)
    truth_path = root / "truth.csv"
    pd.DataFrame(truth).to_csv(truth_path, index=False)
    return {"index": index_dir, "severity": sev_path if severity else None, "truth": truth_path}


def tiny_config(paths: dict, *, rounds: int = 1, severity: bool = True, extra: tuple[str, ...] = ()) -> list[str]:
    """``--set`` overrides of a 1-epoch-per-stage tiny run on the synthetic data."""
    sets = [f"data.index_dir={paths['index']}", "data.image_size=32", "data.batch_size=16", "data.augment=none",
            "model.backbone=tiny", "model.pretrained=none", "optim.max_epochs=1", "optim.lr=0.01",
            "runtime.device=cpu", "runtime.progress=false", "curriculum.epochs_per_stage=1",
            f"curriculum.labels=[{','.join(CLASSES)}]", "curriculum.min_positives=2", "seeds.target=0.6",
            f"refine.rounds={rounds}", f"source.truth_boxes={paths['truth']}", "eval.generator=cam20"]
    if severity and paths.get("severity"):
        sets.append(f"source.severity={paths['severity']}")
    return sets + list(extra)
