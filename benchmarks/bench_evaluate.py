"""Where ``agcl evaluate`` spends its time: wall clock, then a profiled run split into parts; prints JSON.

    python benchmarks/bench_evaluate.py                       # NIH box-image scale, synthetic (see below)
    python benchmarks/bench_evaluate.py --boxes NIH/BBox_List_2017.csv   # real NIH box geometry
    python benchmarks/bench_evaluate.py --run-dir RUN --index IDX   # the stages of a finished run (e.g. the demo's)
    python benchmarks/bench_evaluate.py --no-profile                # wall clock only (no second, profiled run)

NIH box-image scale: 880 test images with 984 boxes (8 classes), 4 models, 16×16 heatmaps (ResNet-50 at
512 px), a 512-px cache, so Table 2's boxes are found on a 512 grid and MaxBoxAcc's on 224. The maps
are seeded noise plus a blob near each box; only the geometry and the amount of work matter here. The
evaluation settings are ``agcl evaluate``'s defaults (calibration split included). With ``--run-dir``
the stages ``bsl, agl, agcl_1, agcl_2`` of that run are evaluated (with ``--control`` added).

The parts are cumulative profiler times of the functions doing each job, so they do not add up to the
profiled wall exactly (the rest is glue); the profiler itself adds a few per cent.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from agcl.evaluation.artifacts import write_heatmaps, write_predictions
from agcl.evaluation.runner import run_evaluation
from agcl.evaluation.settings import eval_settings
from agcl.labels import BOX_LABELS, LABELS

STAGES = ("bsl", "agl", "agcl_1", "agcl_2")
#: part -> (``module.py:function`` doing it, the function it must be called from)
PARTS = {
    "read inputs": (("inputs.py:load_test_set", "inputs.py:load_stage"), "run_evaluation"),
    "AUC (Table 1)": (("auc.py:auc_table", "bootstrap.py:bootstrap_aucs"), "evaluate_model"),
    "Table 2 boxes": (("generators.py:heatmaps_to_boxes",), "evaluate_model"),
    "Table 2, Acc/AFP, IoU counts": (("localization.py:localization_table", "localization.py:threshold_sweep",
                                      "localization.py:__init__", "localization.py:table", "localization.py:sweep"),
                                     "evaluate_model"),
    "pointing game": (("localization.py:pointing_game",), "evaluate_model"),
    "MaxBoxAcc": (("maxboxacc.py:best_iou_curves", "maxboxacc.py:gt_per_pair", "maxboxacc.py:box_accuracy_curve",
                   "maxboxacc.py:max_box_acc"), "evaluate_model"),
    "calibration": (("calibration.py:calibrate",), "evaluate_model"),
    "write tables": (("tables.py:write_tables", "tables.py:write_calibration"), "run_evaluation"),
}


def _boxes(path: Path | None, rng) -> pd.DataFrame:
    if path is not None:
        raw = pd.read_csv(path).iloc[:, :6]
        raw.columns = ["image_id", "label", "x", "y", "w", "h"]
        raw["label"] = raw["label"].replace({"Infiltrate": "Infiltration"})
        return pd.DataFrame({"image_id": raw["image_id"], "label": raw["label"], "x0": raw["x"], "y0": raw["y"],
                             "x1": raw["x"] + raw["w"], "y1": raw["y"] + raw["h"]})
    ids = [f"{i:08d}_000.png" for i in range(880)]
    image = np.r_[np.arange(880), rng.choice(880, 104, replace=False)]
    label = np.array(BOX_LABELS)[rng.integers(0, len(BOX_LABELS), len(image))]
    twice = np.r_[np.zeros(880, bool), np.ones(104, bool)]
    label[twice] = [BOX_LABELS[(BOX_LABELS.index(label[i]) + 1) % len(BOX_LABELS)] for i in image[twice]]
    wh = rng.uniform(40, 500, (len(image), 2))
    xy = rng.uniform(0, 1, (len(image), 2)) * (1024 - wh)
    return pd.DataFrame({"image_id": np.array(ids)[image], "label": label, "x0": xy[:, 0], "y0": xy[:, 1],
                         "x1": xy[:, 0] + wh[:, 0], "y1": xy[:, 1] + wh[:, 1]})


def synthesise(root: Path, boxes: Path | None, side: int = 16, seed: int = 0) -> tuple[Path, list[Path]]:
    """An index (images.csv, boxes.csv, a 512-px cache manifest) and 4 stages with seeded maps."""
    rng = np.random.default_rng(seed)
    gt = _boxes(boxes, rng)
    ids = sorted(gt["image_id"].unique())
    row = {i: k for k, i in enumerate(ids)}
    y = np.zeros((len(ids), len(LABELS)), int)
    y[gt["image_id"].map(row), gt["label"].map(LABELS.index)] = 1
    index = root / "index"
    (index / "cache_512").mkdir(parents=True)
    images = pd.DataFrame(y, columns=list(LABELS))
    images.insert(0, "image_id", ids)
    images.insert(1, "patient_id", [i.split("_")[0] for i in ids])
    images["split"] = "test"
    images.to_csv(index / "images.csv", index=False)
    gt.to_csv(index / "boxes.csv", index=False)
    pd.DataFrame({"row": range(len(ids)), "image_id": ids, "width": 1024, "height": 1024, "ok": 1}).to_csv(
        index / "cache_512" / "manifest.csv", index=False)
    (index / "cache_512" / "cache.json").write_text(json.dumps({"size": 512, "n": len(ids), "complete": True}))
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    stages = []
    for s, name in enumerate(STAGES):
        r = np.random.default_rng([seed, s])
        maps = r.normal(0, 0.3, (len(ids), len(LABELS), side, side)).astype(np.float32)
        for image_id, label, x0, y0, x1, y1 in gt.itertuples(index=False):
            cx, cy = (x0 + x1) / 2048 * side + r.normal(0, 1.5), (y0 + y1) / 2048 * side + r.normal(0, 1.5)
            sx, sy = max((x1 - x0) / 2048 * side, 0.6), max((y1 - y0) / 2048 * side, 0.6)
            maps[row[image_id], LABELS.index(label)] += r.uniform(1, 4) * np.exp(
                -((xx - cx) ** 2 / (2 * sx * sx) + (yy - cy) ** 2 / (2 * sy * sy)))
        stage = root / f"stage_{name}"
        stage.mkdir()
        write_heatmaps(stage, ids, maps)
        write_predictions(stage, ids, np.clip(0.3 * y + r.random(y.shape) * 0.7, 0, 1))
        stages.append(stage)
    return index, stages


def _parts(profile: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profile).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    out = {}
    for part, (names, caller) in PARTS.items():
        total = 0.0
        for (path, _, name), (_, _, _, _, callers) in stats.items():
            if f"{Path(path).name}:{name}" in names:
                total += sum(c[3] for (_, _, cname), c in callers.items() if cname == caller)
        out[part] = round(total, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", type=Path, help="BBox_List_2017.csv: real NIH box geometry instead of synthetic")
    ap.add_argument("--run-dir", type=Path, help="evaluate the stages of this run instead of synthetic ones")
    ap.add_argument("--index", type=Path, help="the run's index directory (with --run-dir)")
    ap.add_argument("--control", action="append", default=[], help="add a control (uniform | centre)")
    ap.add_argument("--no-profile", action="store_true", help="time the wall clock only (skip the profiled run)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # the synthetic test set has no image of the 6 classes without boxes: their AUC is undefined, as expected
    logging.getLogger("agcl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="AUC undefined")
    with tempfile.TemporaryDirectory() as tmp:
        if args.run_dir is not None:
            index, stages = args.index, [args.run_dir / f"stage_{s}" for s in STAGES]
        else:
            index, stages = synthesise(Path(tmp) / "data", args.boxes)
        kw = dict(index_dir=index, stages=stages, names=[], controls=args.control, cache=None,
                  settings=eval_settings())
        with contextlib.redirect_stdout(io.StringIO()):  # the tables agcl evaluate prints
            t0 = time.perf_counter()
            results = run_evaluation(out=Path(tmp) / "eval", **kw)
            wall = time.perf_counter() - t0
            profiled = {}
            if not args.no_profile:
                profile = cProfile.Profile()
                t0 = time.perf_counter()
                profile.runcall(run_evaluation, out=Path(tmp) / "eval_profiled", **kw)
                profiled = {"profiled_wall_s": round(time.perf_counter() - t0, 2), "parts_s": _parts(profile)}
    print(json.dumps({"models": len(results), "pairs_per_model": results[0].info["n_pairs"],
                      "box_images": results[0].info["n_box_images"], "heatmap": results[0].info["heatmap_size"],
                      "wall_s": round(wall, 2), **profiled, "threads": args.threads, "machine": platform.machine(),
                      "cpus": os.cpu_count(),
                      "load_average": [round(v, 2) for v in os.getloadavg()]}, indent=2))


if __name__ == "__main__":
    main()
