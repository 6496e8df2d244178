"""Benchmark the image cache (prints JSON).

(a) images/s through a DataLoader: our uint8 memmap cache (``CxrDataset``) against decoding the original
    1024 px PNG and resizing it per item, as public CheXNet code does (PIL open -> RGB -> Resize -> tensor).
(b) data wait as a share of step time while feeding a resnet18 (random init, channels_last) training
    loop at 128 px, batch 32, 2 threads.

Uses the 30 real NIH PNGs in ../shared/data/nih-cxr14/images when present (repeated to make enough
items), otherwise 1024 px synthetic PNGs.

    .venv/bin/python benchmarks/bench_cache.py [--items 64] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from agcl.data.augment import AffineAugment
from agcl.data.cache import ImageCache, prepare_cache
from agcl.data.dataset import CxrDataset
from agcl.data.index import load_index, save_index
from agcl.data.nih import NihOptions, build_nih_index
from agcl.data.table import TableOptions, build_csv_index

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nih-cxr14"


class PngDataset(Dataset):
    """The per-item baseline: decode the full PNG and resize it every time (CheXNet-style)."""

    def __init__(self, paths: list[Path], size: int) -> None:
        from torchvision import transforms

        self.paths = paths
        self.tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as img:
            return self.tf(img.convert("RGB"))


def make_index(tmp: Path) -> tuple[Path, str]:
    """Index of the 30 real PNGs, or of 30 synthetic 1024 px PNGs."""
    if (REAL / "images").is_dir():
        images, boxes, info = build_nih_index(REAL, NihOptions(allow_missing=True))
        return save_index(tmp / "ix", images, boxes, info), "30 real NIH 1024x1024 PNGs"
    root = tmp / "png"
    root.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1024, 0:1024]
    lines = ["path,labels,patient_id"]
    for i in range(30):
        arr = (128 + 60 * np.sin(xx / (40 + i)) * np.cos(yy / 55) + rng.normal(0, 20, xx.shape)).clip(0, 255)
        Image.fromarray(arr.astype(np.uint8)).save(root / f"s{i}.png")
        lines.append(f"s{i}.png,No Finding,p{i}")
    (tmp / "list.csv").write_text("\n".join(lines) + "\n")
    images, boxes, info = build_csv_index(tmp / "list.csv", root, TableOptions())
    return save_index(tmp / "ix", images, boxes, info), "30 synthetic 1024x1024 PNGs"


def images_per_s(loader: DataLoader) -> float:
    it = iter(loader)
    next(it)  # warm-up batch (worker start, first file reads)
    n, t0 = 0, time.perf_counter()
    for batch in it:
        n += len(batch["image"] if isinstance(batch, dict) else batch)
    return n / (time.perf_counter() - t0)


def bench_throughput(ix: Path, items: int, size: int, workers: int) -> dict:
    index = load_index(ix)
    cache = ImageCache.open(prepare_cache(ix, size=size, workers=1, progress=False))
    reps = -(-items // len(index.images))
    df = pd.concat([index.images] * reps, ignore_index=True).iloc[:items]
    paths = [index.root / p for p in df["path"]]
    kw = dict(batch_size=16, num_workers=workers, shuffle=False)
    png = images_per_s(DataLoader(PngDataset(paths, size), **kw))
    cached = images_per_s(DataLoader(CxrDataset(df, cache), **kw))
    cached_aug = images_per_s(DataLoader(CxrDataset(df, cache, augment=AffineAugment(seed=0)), **kw))
    return {"size": size, "items": items, "loader_workers": workers, "png_decode_resize_img_s": round(png, 1),
            "cache_img_s": round(cached, 1), "cache_affine_aug_img_s": round(cached_aug, 1),
            "speedup": round(cached / png, 1), "speedup_with_aug": round(cached_aug / png, 1)}


def bench_training(ix: Path, steps: int, workers: int, threads: int = 2) -> dict:
    from torchvision.models import resnet18

    torch.set_num_threads(threads)
    index = load_index(ix)
    cache = ImageCache.open(prepare_cache(ix, size=128, workers=1, progress=False))
    batch = 32
    df = pd.concat([index.images] * (-(-(steps + 2) * batch // len(index.images))), ignore_index=True)
    ds = CxrDataset(df, cache, augment=AffineAugment(seed=0))
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    model = resnet18(num_classes=14).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    wait = total = 0.0
    it = iter(loader)
    for step in range(steps + 2):
        t0 = time.perf_counter()
        b = next(it)
        t1 = time.perf_counter()
        x = b["image"].expand(-1, 3, -1, -1).contiguous(memory_format=torch.channels_last)
        loss = loss_fn(model(x), b["labels"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if step >= 2:  # skip warm-up steps
            wait += t1 - t0
            total += t2 - t0
    return {"image_size": 128, "batch": batch, "threads": threads, "loader_workers": workers, "steps": steps,
            "step_s": round(total / steps, 3), "data_wait_s": round(wait / steps, 4),
            "data_wait_pct": round(100 * wait / total, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=64, help="items per throughput measurement")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps (0 = loader throughput only)")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        ix, source = make_index(Path(tmp))
        t0 = time.perf_counter()
        torch.set_num_threads(1)
        result = {
            "machine": f"{platform.machine()} {os.cpu_count()} cpu",
            "source": source,
            "throughput_512": bench_throughput(ix, args.items, 512, workers=0),
        }
        if args.steps:
            result["training_128_workers0"] = bench_training(ix, args.steps, workers=0)
            result["training_128_workers1"] = bench_training(ix, args.steps, workers=1)
        result["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
