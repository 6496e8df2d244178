"""Cost of MaxBoxAcc/V2 (100 thresholds, 224-px grid) against Table 2's box generation, on seeded
synthetic 16×16 maps (1–3 Gaussian blobs + noise) with one GT box each. Prints one JSON object.

    .venv/bin/python benchmarks/bench_maxboxacc.py --maps 984 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from agcl.boxes.generators import BoxSettings, heatmaps_to_boxes
from agcl.evaluation.maxboxacc import best_iou_curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", type=int, default=984)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16] + 0.5
    maps = rng.normal(0, 0.05, (args.maps, 16, 16)).astype(np.float32)
    gts = []
    for m in maps:
        for _ in range(rng.integers(1, 4)):
            cy, cx, s = rng.uniform(2, 14), rng.uniform(2, 14), rng.uniform(0.8, 3.0)
            m += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        gts.append(np.array([[(cx - 2 * s) * 64, (cy - 2 * s) * 64, (cx + 2 * s) * 64, (cy + 2 * s) * 64]]))
    out = {}
    t0 = time.perf_counter()
    for gen in ("wang2017", "cam20"):
        heatmaps_to_boxes(maps, 1024, 1024, BoxSettings(generator=gen, upsample_size=512))
    out["table2_boxes_both_generators_512_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    best_iou_curves(maps, gts, [1024] * len(maps), [1024] * len(maps), size=args.size)
    out["maxboxacc_curves_s"] = time.perf_counter() - t0
    print(json.dumps({"maps": args.maps, "grid": args.size, "thresholds": 100, "threads": args.threads,
                      "machine": platform.machine(), **{k: round(v, 2) for k, v in out.items()},
                      "ratio": round(out["maxboxacc_curves_s"] / out["table2_boxes_both_generators_512_s"], 2)},
                     indent=2))


if __name__ == "__main__":
    main()
