"""Throughput of ``agcl predict`` (decode + resize + forward + CAM + boxes) on CPU; prints JSON.

    python benchmarks/predict_throughput.py --images ../shared/data/nih-cxr14/images \
        --backbone resnet50 --size 512 --threads 2

Uses a randomly initialised network of the given backbone saved as a contract checkpoint (weights do
not change the cost). Without --images it renders 32 synthetic 1024x1024 PNGs into a temp folder.
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
    ap.add_argument("--backbone", default="tiny")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--generator", default="cam20")
    ap.add_argument("--box-threshold", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from agcl.inference.driver import predict
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        images = args.images
        if images is None:
            images = tmp_path / "images"
            images.mkdir()
            rng = np.random.default_rng(0)
            for i in range(32):
                Image.fromarray((rng.random((1024, 1024)) * 255).astype(np.uint8)).save(images / f"{i}.png")
        model = build_model({"kind": "multilabel", "backbone": args.backbone, "image_size": args.size}, seed=0)
        ckpt = tmp_path / "ckpt.pt"
        save_checkpoint(ckpt, model_payload(model, stage="bench", epoch=0, config={}))
        predict(ckpt, images, device="cpu", batch_size=args.batch_size)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            res = predict(ckpt, images, device="cpu", batch_size=args.batch_size, generator=args.generator,
                          box_threshold=args.box_threshold)
            times.append(time.perf_counter() - t0)
    n = len(res.probabilities)
    best = min(times)
    print(json.dumps({
        "benchmark": "predict_throughput", "backbone": args.backbone, "image_size": args.size,
        "batch_size": args.batch_size, "threads": args.threads, "generator": args.generator,
        "box_threshold": args.box_threshold, "images": n, "boxes": int(len(res.boxes)),
        "seconds_best": round(best, 3), "seconds_all": [round(t, 3) for t in times],
        "images_per_s": round(n / best, 2), "machine": platform.machine(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
