"""``agcl predict`` total time against the bare forward pass (same backbone, size, batch); prints JSON.

    python benchmarks/predict_throughput.py --images ../shared/data/nih-cxr14/images \
        --backbone resnet50 --size 512 --threads 2 --workers 1   [--device cuda]

Target: predict (decode + resize + forward + CAM + boxes for every label, ``--box-threshold 0``,
outputs written) <= 1.15x the bare forward pass ``model(x)`` over the same number of images, for both
generators, with the default box grid. ``--box-grid 0`` measures full-resolution boxes for comparison.
Runs are interleaved (bare, then each generator, repeated) and the best of each is kept, because the
development box is shared. A randomly initialised network is saved as a checkpoint (weights do not
change the cost). Without --images, 32 synthetic 1024x1024 PNGs are rendered into a temp folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=30, help="images taken from --images (sorted)")
    ap.add_argument("--backbone", default="tiny")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--box-grid", type=int, default=128)
    ap.add_argument("--box-threshold", type=float, default=0.0)
    ap.add_argument("--generators", default="cam20,wang2017")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if args.images is None:
            (tmp_path / "images").mkdir()
            rng = np.random.default_rng(0)
            for i in range(32):
                Image.fromarray((rng.random((1024, 1024)) * 255).astype(np.uint8)).save(tmp_path / "images" / f"{i}.png")
            files = sorted((tmp_path / "images").glob("*.png"))
        else:
            files = sorted(args.images.glob("*.png"))[: args.limit]
        out = measure(files, tmp_path, backbone=args.backbone, size=args.size, batch_size=args.batch_size,
                      device=args.device, workers=args.workers, box_grid=args.box_grid,
                      box_threshold=args.box_threshold, generators=args.generators.split(","), repeats=args.repeats)
    print(json.dumps({**out, "threads": args.threads}))


def measure(files: list[Path], tmp_path: Path, *, backbone: str, size: int, batch_size: int, device: str,
            workers: int, box_grid: int, box_threshold: float, generators: list[str], repeats: int) -> dict:
    """Bare forward vs ``agcl predict`` per generator over ``files``, interleaved; best of ``repeats``."""
    from agcl.inference.driver import predict_checkpoint
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    model = build_model({"kind": "multilabel", "backbone": backbone, "image_size": size}, seed=0).eval()
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, model_payload(model, stage="bench", epoch=0, config={}))
    model.to(dev)
    x = torch.rand(len(files), 1, size, size).to(dev)

    def bare() -> None:
        with torch.inference_mode():
            for i in range(0, len(files), batch_size):
                model(x[i:i + batch_size])
        sync()

    def run(generator: str):
        return predict_checkpoint(ckpt, files, out=tmp_path / f"out_{generator}", device=device,
                                  batch_size=batch_size, generator=generator,
                                  box_threshold=box_threshold, box_grid=box_grid, workers=workers)

    bare()
    run(generators[0])  # warm-up
    times: dict[str, list[float]] = {"bare_forward": [], **{g: [] for g in generators}}
    boxes = {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        bare()
        times["bare_forward"].append(time.perf_counter() - t0)
        for g in generators:
            t0 = time.perf_counter()
            res = run(g)
            times[g].append(time.perf_counter() - t0)
            boxes[g] = len(res.boxes)
    best = {k: min(v) for k, v in times.items()}
    n = len(files)
    return {
        "benchmark": "predict_throughput", "backbone": backbone, "image_size": size, "device": device,
        "batch_size": batch_size, "workers": workers,
        "box_grid": box_grid, "box_threshold": box_threshold, "images": n,
        "seconds_best": {k: round(v, 3) for k, v in best.items()},
        "seconds_all": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "images_per_s": {k: round(n / v, 2) for k, v in best.items()},
        "ratio_vs_bare": {g: round(best[g] / best["bare_forward"], 3) for g in generators},
        "target_ratio": 1.15, "boxes": boxes,
        "machine": platform.machine(), "torch": torch.__version__,
    }


if __name__ == "__main__":
    main()
