"""Shared pieces of the loader benchmarks (``bench_augment.py``, ``gpu_check.py``): a phantom with its
index, severity table and image cache, and the images/s of the training loader with the augmentation
on either side of the transfer.

The loader is measured through the training loop's own code: :class:`agcl.data.dataset.CxrDataset`
in a ``DataLoader``, then :func:`agcl.train.epoch.to_device` with the dataset's device step, exactly
what :func:`agcl.train.loop.fit` runs before the model sees a batch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from agcl.data.augment import AffineAugment  # noqa: E402
from agcl.data.cache import ImageCache  # noqa: E402
from agcl.data.dataset import CxrDataset  # noqa: E402
from agcl.labels import LABELS  # noqa: E402
from agcl.train.device import RuntimeEnv  # noqa: E402
from agcl.train.epoch import to_device  # noqa: E402


@dataclass(frozen=True)
class PhantomData:
    """A phantom in NIH layout and what agcl builds from it (the same steps as ``agcl demo``)."""

    phantom: Path
    index_dir: Path
    cache_dir: Path
    severity: Path


def phantom_data(work: Path, n: int, size: int, seed: int = 0, workers: int | None = None) -> PhantomData:
    """Synthesize (``agcl synth``; ``workers`` rendering processes, 1 = in this process), mine the reports,
    index and cache at ``size`` px; each step reused if done."""
    from agcl.data.phantom import synthesize
    from agcl.pipeline.demo import ensure_cache, ensure_index, ensure_severity

    phantom = Path(synthesize(work / "phantom", n=n, size=size, seed=seed, workers=workers))
    severity = ensure_severity(phantom, work / "severity.csv")
    index_dir = ensure_index(phantom, work / "index", seed)
    cache_dir = ensure_cache(index_dir, size, progress=False)
    return PhantomData(phantom, index_dir, cache_dir, severity)


def training_dataset(cache_dir: Path, *, on_device: bool, seed: int = 0) -> CxrDataset:
    """Every cached image with the ``light`` augmentation, per item (``on_device=False``) or batched."""
    cache = ImageCache.open(cache_dir)
    rows = pd.DataFrame(0, index=range(len(cache)), columns=list(LABELS)).assign(image_id=cache.image_ids)
    return CxrDataset(rows, cache, augment=AffineAugment(seed=seed), on_device=on_device)


def loader_throughput(ds: CxrDataset, *, device: torch.device, workers: int, batch: int, items: int,
                      max_s: float, channels_last: bool = True, pin: bool | None = None,
                      prefetch: int = 2, epoch: int = 1) -> dict:
    """Images/s from the DataLoader to finished batches on ``device`` (after one warm-up batch).

    Stops after ``items`` images or ``max_s`` seconds, whichever comes first; a shuffled cycle over the
    dataset supplies as many items as needed.
    """
    ds.set_epoch(epoch)
    order = np.random.default_rng(epoch).permutation(np.arange(items + batch) % len(ds)).tolist()
    pin = device.type == "cuda" if pin is None else pin
    loader = DataLoader(ds, batch_size=batch, sampler=order, num_workers=workers, pin_memory=pin, drop_last=True,
                        prefetch_factor=prefetch if workers else None)
    env = RuntimeEnv(device, channels_last=channels_last)
    step = ds.device_step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t_start = time.perf_counter()
    it = iter(loader)
    to_device(next(it), env, step)  # warm-up: worker start, first reads
    sync()
    first = time.perf_counter() - t_start
    n, t0 = 0, time.perf_counter()
    for raw in it:
        out = to_device(raw, env, step)
        n += int(out["image"].shape[0])
        if time.perf_counter() - t0 > max_s:
            break
    sync()
    seconds = time.perf_counter() - t0
    del it
    return {"augment": "batched, after transfer" if ds.on_device else "per item, in the loader",
            "workers": workers, "batch": batch, "images": n, "seconds": round(seconds, 3),
            "img_per_s": round(n / max(seconds, 1e-9), 1), "first_batch_s": round(first, 3)}
