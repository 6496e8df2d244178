"""The ``light`` augmentation per item in the loader against batched after transfer, on the CPU, side by side.

    python benchmarks/bench_augment.py [--size 512] [--batch 16] [--items 64] [--rounds 3] [--threads 1]

Both paths read the same uint8 image cache (a phantom made in ``--work``) through a DataLoader with no
workers and finish each batch with the training loop's :func:`agcl.train.epoch.to_device`: per item
(``data.augment_device: cpu``: float conversion + one ``grid_sample`` per image, then collation) or
batched (``gpu``: uint8 collation, then one conversion and one ``grid_sample`` for the batch — here on
the CPU). Rounds alternate the two paths; medians are reported. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch
from loader_bench import loader_throughput, phantom_data, training_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--images", type=int, default=48, help="phantom images in the cache")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--items", type=int, default=64, help="images per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="folder for the phantom and cache (default: temp)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = phantom_data(args.work or Path(tmp), args.images, args.size)
        paths = {"per_item": training_dataset(data.cache_dir, on_device=False),
                 "batched": training_dataset(data.cache_dir, on_device=True)}
        runs: dict[str, list[float]] = {k: [] for k in paths}
        for r in range(args.rounds):
            for name, ds in paths.items():
                res = loader_throughput(ds, device=torch.device("cpu"), workers=0, batch=args.batch,
                                        items=args.items, max_s=120.0, channels_last=False, epoch=r)
                runs[name].append(res["img_per_s"])
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(json.dumps({
        "benchmark": "augment_per_item_vs_batched", "device": "cpu", "size": args.size, "batch": args.batch,
        "items_per_run": args.items, "rounds": args.rounds, "threads": torch.get_num_threads(), "workers": 0,
        "img_per_s": {k: round(v, 1) for k, v in med.items()}, "img_per_s_all": runs,
        "speedup_batched_over_per_item": round(med["batched"] / med["per_item"], 3),
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "load_average": [round(x, 2) for x in os.getloadavg()],
    }, indent=2))


if __name__ == "__main__":
    main()
