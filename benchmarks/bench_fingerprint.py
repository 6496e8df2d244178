"""Benchmark the index fingerprint that every ``load_index`` computes (prints JSON).

Builds an index folder of NIH size (112,120 rows, the real column set, 984 boxes) in a temporary
folder and times :func:`agcl.fingerprints.index_fingerprint` against reading the same ``images.csv``
with pandas, side by side in one run.

    .venv/bin/python benchmarks/bench_fingerprint.py [--rows 112120] [--repeats 5]
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

from agcl.data.index import BOX_COLUMNS, IMAGE_COLUMNS
from agcl.fingerprints import index_fingerprint


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=112_120)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        images = pd.DataFrame({c: rng.integers(0, 2, args.rows) for c in IMAGE_COLUMNS})
        images["image_id"] = [f"{i // 10:08d}_{i % 10:03d}.png" for i in range(args.rows)]
        images["path"] = "images_001/images/" + images["image_id"]
        images.to_csv(d / "images.csv", index=False)
        boxes = pd.DataFrame({c: rng.random(984) * 1024 for c in BOX_COLUMNS})
        boxes.to_csv(d / "boxes.csv", index=False)
        (d / "index.json").write_text(json.dumps({"root": str(d)}))
        fp_s = _best(lambda: index_fingerprint(d), args.repeats)
        read_s = _best(lambda: pd.read_csv(d / "images.csv"), args.repeats)
        size_mb = (d / "images.csv").stat().st_size / 1e6
    print(json.dumps({"rows": args.rows, "images_csv_mb": round(size_mb, 1), "fingerprint_s": round(fp_s, 4),
                      "read_csv_s": round(read_s, 4), "ratio": round(fp_s / read_s, 3),
                      "machine": f"{platform.machine()} {os.cpu_count()} cores", "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
