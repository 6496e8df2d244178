"""Cost of Grad-CAM / Grad-CAM++ maps for all 14 classes against the exact CAM, side by side.

Prints one JSON object. Example:
    .venv/bin/python benchmarks/bench_gradcam.py --backbone resnet50 --size 512 --batch 4 --reps 3 --threads 2

Per repetition, in alternation, on the same batch:
(a) ``agcl.models.forward_with_cams``: probabilities + exact CAM of 14 classes (one forward pass);
(b) ``agcl.cam.gradcam.gradient_cams(method="gradcam")``: one forward pass + 14 backward passes
    through the head only, weights from pytorch-grad-cam;
(c) the same for ``gradcampp``;
(d) ``--naive``: pytorch-grad-cam's own ``GradCAM.__call__`` once per class (14 forward + backward
    passes through the whole network, maps min–max scaled and resized to the input by the library) —
    what a straightforward use of the library costs.
Ratios are medians per image relative to (a). Random init (weights do not change the cost).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch


def _naive(model, x, k: int) -> None:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer = getattr(model.backbone, "layer4", None) or list(model.backbone.modules())[-1]
    with GradCAM(model=model, target_layers=[layer]) as cam:
        for c in range(k):
            cam(x, targets=[ClassifierOutputTarget(c)] * len(x))


def main() -> None:
    from agcl.cam.gradcam import gradient_cams
    from agcl.models import build_model, forward_with_cams

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--naive", action="store_true", help="also time the library's per-class __call__")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    model = build_model({"kind": "multilabel", "backbone": args.backbone, "image_size": args.size}, seed=0).to(dev).eval()
    x = torch.rand(args.batch, 1, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    variants = {"cam": lambda: forward_with_cams(model, x), "gradcam": lambda: gradient_cams(model, x, "gradcam"),
                "gradcampp": lambda: gradient_cams(model, x, "gradcampp")}
    if args.naive:
        variants["library_call_per_class"] = lambda: _naive(model, x, 14)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():  # warm-up
        fn()
    for _ in range(args.reps):
        for name, fn in variants.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - t0) / args.batch)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(json.dumps({
        "backbone": args.backbone, "size": args.size, "batch": args.batch, "reps": args.reps,
        "threads": args.threads, "device": str(dev), "torch": torch.__version__, "machine": platform.machine(),
        "s_per_image": {k: round(v, 5) for k, v in med.items()},
        "ratio_to_cam": {k: round(v / med["cam"], 3) for k, v in med.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
