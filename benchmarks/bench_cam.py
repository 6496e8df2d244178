"""Cost of CAM + heatmap→boxes (all 14 classes) relative to plain batch inference, side by side.

Prints one JSON object. Example:
    .venv/bin/python benchmarks/bench_cam.py --backbone resnet50 --size 512 --batch 4 --reps 3 --threads 2

Per repetition and batch it times, in alternation: (a) plain inference (features -> logits ->
probabilities), (b) ``agcl.models.forward_with_cams`` (probabilities + exact CAM for 14 classes, one pass), and
(c) the boxes of all 14 maps of every image for each generator / upsampling option; the CAM einsum
alone is also timed on precomputed features, since b − a is below the noise. Overhead =
(CAM + c) / a, per image. Random init (weights do not change the cost).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from agcl.boxes.generators import BoxSettings, heatmaps_to_boxes
from agcl.boxes.geometry import iou
from agcl.models import build_model, forward_with_cams


def _cheap_vs_full(size: int, n: int = 200, seed: int = 0) -> dict[str, float]:
    """How close the cheap options' cam20 boxes are to full-resolution ones, on seeded synthetic
    16x16 maps of 1-3 Gaussian blobs + noise (random-init CAMs are too flat to say anything)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16] + 0.5
    maps = rng.normal(0, 0.05, (n, 16, 16))
    for m in maps:
        for _ in range(rng.integers(1, 4)):
            cy, cx, s = rng.uniform(2, 14), rng.uniform(2, 14), rng.uniform(0.8, 3.0)
            m += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    full = heatmaps_to_boxes(maps, 1024, 1024, BoxSettings(generator="cam20", upsample_size=size)).boxes
    out = {}
    for name, st in (("before128", BoxSettings(generator="cam20", upsample_size=128)),
                     ("after", BoxSettings(generator="cam20", upsample="after"))):
        out[name] = float(np.diag(iou(full, heatmaps_to_boxes(maps, 1024, 1024, st).boxes)).mean())
    return out


def _step_ratio(backbone: str, size: int, batch: int, reps: int) -> dict[str, float]:
    """Training step (forward + backward + SGD) of the two-path net vs the baseline, interleaved."""
    from agcl.train.losses import masked_bce, two_path_loss

    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, size, size, generator=g)
    y = (torch.rand(batch, 14, generator=g) > 0.8).float()
    nets = {k: build_model({"kind": k, "backbone": backbone, "image_size": size}, seed=0).train()
            for k in ("multilabel", "two_path")}
    h = size // 32 if backbone != "tiny" else size // 8
    maps, seeds = torch.rand(batch, 14, h, h, generator=g), (torch.rand(batch, 14, generator=g) > 0.5).float()
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in nets.items()}
    times: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(reps + 1):
        for k in (("multilabel", "two_path") if r % 2 else ("two_path", "multilabel")):  # alternate order
            m = nets[k]
            t0 = time.perf_counter()
            opts[k].zero_grad()
            if k == "two_path":
                out = m.forward_train(x)
                loss = two_path_loss(out["logits"], out["heatmaps"], y, None, maps, seeds)["total"]
            else:
                loss = masked_bce(m(x), y)["total"]
            loss.backward()
            opts[k].step()
            if r:  # first round is warm-up
                times[k].append(time.perf_counter() - t0)
    base, two = float(np.median(times["multilabel"])), float(np.median(times["two_path"]))
    return {"baseline_step_s": base, "two_path_step_s": two, "ratio": two / base}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--step", action="store_true", help="also time a two-path vs baseline training step")
    ap.add_argument("--step-size", type=int, default=256)
    ap.add_argument("--step-batch", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = build_model({"kind": "multilabel", "backbone": args.backbone, "image_size": args.size}, seed=0).eval()
    x = torch.rand(args.batch, 1, args.size, args.size, generator=torch.Generator().manual_seed(0))
    variants = {}
    for m in ("wang2017", "cam20"):
        variants[f"{m}_before{args.size}"] = BoxSettings(generator=m, upsample="before", upsample_size=args.size)
        variants[f"{m}_before128"] = BoxSettings(generator=m, upsample="before", upsample_size=128)
        variants[f"{m}_after"] = BoxSettings(generator=m, upsample="after")
    times: dict[str, list[float]] = {"plain": [], "infer": [], "cam_only": [], **{k: [] for k in variants}}
    n_boxes: dict[str, int] = {}

    with torch.inference_mode():
        model(x)  # warm-up
    for _ in range(args.reps):
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.probabilities(model(x))
        times["plain"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _, cams = forward_with_cams(model, x)
        times["infer"].append(time.perf_counter() - t0)
        with torch.inference_mode():
            feats = model.forward_features(x)
            t0 = time.perf_counter()
            model.cam(feats).float()
            times["cam_only"].append(time.perf_counter() - t0)
        maps = cams.numpy().reshape(-1, *cams.shape[2:])
        for name, settings in variants.items():
            t0 = time.perf_counter()
            det = heatmaps_to_boxes(maps, 1024, 1024, settings)
            times[name].append(time.perf_counter() - t0)
            n_boxes[name] = int(len(det.boxes))
    per_image = {k: float(np.median(v)) / args.batch for k, v in times.items()}
    agreement = _cheap_vs_full(args.size)
    cam_overhead = per_image["cam_only"]  # the only work infer adds to a plain forward: one einsum
    result = {
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}",
        "backbone": args.backbone, "size": args.size, "batch": args.batch, "reps": args.reps,
        "heatmap": list(cams.shape[2:]), "seconds_per_image": per_image,
        "cam_overhead_fraction": cam_overhead / per_image["plain"],
        "cam_plus_boxes_overhead_fraction": {k: (cam_overhead + per_image[k]) / per_image["plain"] for k in variants},
        "boxes_per_batch": n_boxes,
        "cam20_mean_iou_vs_full_resolution_on_blob_maps": agreement,
    }
    if args.step:
        result["train_step"] = {"backbone": args.backbone, "size": args.step_size, "batch": args.step_batch,
                                **_step_ratio(args.backbone, args.step_size, args.step_batch, args.reps)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
