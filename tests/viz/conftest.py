"""A small run directory built with the real producers (index, cache, artifacts, evaluation tables,
config), fast enough for unit tests. Hostile strings (``<script>``, quotes, ``&``) are planted in an
image id, a model name and a stage name to test escaping."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from agcl.labels import LABELS

HOSTILE_ID = 'x<script>window.__pwned=1</script>"q\'&.png'
HOSTILE_MODEL = "<script>window.__pwned=2</script>"
HOSTILE_STAGE = 'odd"<b>&'
N_TEST, N_TRAIN, SRC, CACHE, HM = 16, 6, 96, 32, 8


def _images(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"{i:05d}_000.png" for i in range(N_TEST + N_TRAIN)]
    ids[4] = HOSTILE_ID  # a test image with GT boxes, so it appears in the gallery
    rows, boxes = [], []
    for i, iid in enumerate(ids):
        labels = (rng.random(len(LABELS)) < 0.3).astype(int)
        split = "test" if i < N_TEST else "train"
        if split == "test" and i % 2 == 0:
            labels[[0, 2]] = 1  # Atelectasis, Effusion carry boxes on half of the test images
            x0, y0 = float(rng.integers(0, 50)), float(rng.integers(0, 50))
            boxes.append((iid, "Atelectasis", x0, y0, x0 + 30.0, y0 + 30.0))
            boxes.append((iid, "Effusion", 50.0, 40.0, 90.0, 80.0))
        rows.append({"image_id": iid, "path": f"images/{i}.png", "patient_id": str(i), "follow_up": 0,
                     "age": 50, "sex": "M", "view": "PA", "meta_w": SRC, "meta_h": SRC,
                     **dict(zip(LABELS, labels, strict=True)), "no_finding": int(labels.sum() == 0),
                     "split": split})
    return pd.DataFrame(rows), pd.DataFrame(boxes, columns=["image_id", "label", "x0", "y0", "x1", "y1"])


def _heatmaps(images: pd.DataFrame, boxes: pd.DataFrame, rng: np.random.Generator, sharp: float) -> np.ndarray:
    """CAMs with a bump over the GT box (scaled by ``sharp``) plus noise, in the cache frame."""
    cams = rng.normal(0, 0.3, size=(len(images), len(LABELS), HM, HM)).astype(np.float32)
    yy, xx = np.mgrid[0:HM, 0:HM] + 0.5
    for r, iid in enumerate(images["image_id"]):
        for b in boxes[boxes["image_id"] == iid].itertuples():
            cx, cy = (b.x0 + b.x1) / 2 * HM / SRC, (b.y0 + b.y1) / 2 * HM / SRC
            k = LABELS.index(b.label)
            boost = 10.0 if iid == HOSTILE_ID else 1.0  # the best image of its classes: shown in the gallery
            cams[r, k] += boost * sharp * (r % 4 + 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 4.0)
    return cams


def build_fake_run(root: Path, *, severity: str = "", with_eval: bool = True) -> Path:
    """Write index + cache + a run with stages bsl, seeds_r1, agcl_1 and the odd stage; returns RUN."""
    from agcl.boxes import BoxSettings, heatmaps_to_boxes
    from agcl.config import dump_config
    from agcl.config.schema import DataConfig, ModelConfig
    from agcl.data.cache import prepare_cache
    from agcl.data.index import save_index
    from agcl.evaluation import EvalSettings, evaluate_model
    from agcl.evaluation.artifacts import write_boxes, write_heatmaps, write_predictions
    from agcl.evaluation.tables import write_tables
    from agcl.io import write_text_atomic
    from agcl.pipeline.settings import PipelineConfig, SourceConfig

    rng = np.random.default_rng(0)
    images, boxes = _images(rng)
    raw = root / "raw" / "images"
    raw.mkdir(parents=True)
    for i, iid in enumerate(images["image_id"]):
        pix = (rng.random((SRC, SRC)) * 60 + 60).astype(np.uint8)
        for b in boxes[boxes["image_id"] == iid].itertuples():
            pix[int(b.y0):int(b.y1), int(b.x0):int(b.x1)] += 80
        Image.fromarray(pix).save(raw / f"{i}.png")
    index_dir = root / "index"
    save_index(index_dir, images, boxes, {"root": str(root / "raw"), "source": "csv"})
    cache_dir = prepare_cache(index_dir, size=CACHE, progress=False, workers=1)

    run = root / "run"
    cfg = PipelineConfig(data=DataConfig(index_dir=str(index_dir), cache_dir=str(cache_dir), image_size=CACHE),
                         model=ModelConfig(backbone="tiny", pretrained="none"),
                         source=SourceConfig(severity=severity))
    write_text_atomic(run / "config.yaml", dump_config(cfg))
    test = images[images["split"] == "test"].reset_index(drop=True)
    gt = boxes[boxes["image_id"].isin(test["image_id"])]
    sizes = pd.DataFrame({"image_id": test["image_id"], "width": SRC, "height": SRC})
    results = []
    settings = EvalSettings(boxes=BoxSettings(upsample_size=CACHE))
    for name, model, sharp in (("bsl", "BSL", 0.5), ("agcl_1", HOSTILE_MODEL, 2.0), (HOSTILE_STAGE, "odd", 1.0)):
        sd = run / f"stage_{name}"
        probs = np.clip(test[list(LABELS)].to_numpy() * 0.4 + rng.random((len(test), len(LABELS))) * 0.6, 0, 1)
        write_predictions(sd, test["image_id"], probs)
        cams = _heatmaps(test, gt, rng, sharp)
        write_heatmaps(sd, test["image_id"], cams)
        rows, cols = np.nonzero(np.ones((len(test), 2), dtype=bool))  # Atelectasis, Effusion maps
        det = heatmaps_to_boxes(cams[rows, [LABELS.index(("Atelectasis", "Effusion")[c]) for c in cols]],
                                SRC, SRC, settings.boxes)
        write_boxes(sd / "boxes.csv", pd.DataFrame({
            "image_id": test["image_id"].to_numpy()[rows[det.map_index]],
            "label": np.array(["Atelectasis", "Effusion"])[cols[det.map_index]],
            "x0": det.boxes[:, 0], "y0": det.boxes[:, 1], "x1": det.boxes[:, 2], "y1": det.boxes[:, 3],
            "score": det.scores}))
        if with_eval:
            preds = pd.DataFrame(probs, columns=list(LABELS)).assign(image_id=test["image_id"].to_numpy())
            results.append(evaluate_model(model, test, preds, test["image_id"].tolist(), cams, gt, sizes, settings))
    if with_eval:
        write_tables(run / "eval", results, settings.describe(), {"split": "test"})
    seeds = pd.DataFrame({"image_id": images["image_id"][:5], "label": ["Atelectasis"] * 3 + ["Effusion"] * 2,
                          "rule": ["S2"] * 4 + (["S1"] if severity else ["S2"]), "iteration": 1, "prob": 0.9})
    (run / "stage_seeds_r1").mkdir(parents=True)
    seeds.to_csv(run / "stage_seeds_r1" / "seeds.csv", index=False)
    events = []
    for stage in ("bsl", "agcl_1", "curriculum_r1/Atelectasis", "curriculum_r1/Effusion"):
        for epoch in range(3):
            events.append({"stage": stage, "event": "step", "epoch": epoch, "step": epoch * 5, "loss": 1.0 / (epoch + 1)})
            events.append({"stage": stage, "event": "epoch", "epoch": epoch, "step": epoch * 5 + 4,
                           "train/loss": 1.0 / (epoch + 1), "val/loss": 1.2 / (epoch + 1), "train/cls": 0.5})
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return run


@pytest.fixture(scope="session")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A degraded run (no severity table) with a report already built; treat as read-only.

    Built once per test session even under pytest-xdist: workers share the base temp folder's parent
    and a file lock, and later workers reuse the finished run.
    """
    from filelock import FileLock

    from agcl.viz.report import ReportOptions, build_report

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # parent = this session's root
    with FileLock(str(shared / "agcl_fake_run.lock")):
        run = shared / "agcl_fake_run" / "run"
        done = shared / "agcl_fake_run" / "READY"
        if not done.is_file():
            import shutil

            shutil.rmtree(shared / "agcl_fake_run", ignore_errors=True)
            run = build_fake_run(shared / "agcl_fake_run")
            build_report(run, ReportOptions(tile=96))
            done.write_text("ok", encoding="utf-8")
    return run
