"""Benchmark the fingerprints that every ``load_index`` / cache open computes (prints JSON).

Builds an index folder of NIH size (112,120 rows, the real column set, 984 boxes) in a temporary
folder and times, side by side in one run against reading the same ``images.csv`` with pandas:
:func:`agcl.fingerprints.index_fingerprint`; the image-path containment check of every read
(:func:`agcl.paths.first_escaping`); all the checks ``load_index`` makes of a (hand-editable) index
(:func:`agcl.data.index.check_loaded`: paths, 0/1 labels, splits, unique ids, no patient in two splits,
boxes); and the per-image file check of the image cache
(:func:`agcl.fingerprints.file_stats`: size + mtime of every image, here a tree of empty files laid
out like NIH's ``images_001/images`` … ``images_012/images``; warm metadata caches, as on a machine
that has just listed the files — a network filesystem with cold caches is slower).

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

from agcl.data.index import BOX_COLUMNS, IMAGE_COLUMNS, check_loaded
from agcl.fingerprints import file_stats, index_fingerprint
from agcl.paths import first_escaping


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
        images["split"] = np.array(["train", "val", "test"])[rng.integers(0, 3, args.rows)]
        images["patient_id"] = [str(i) for i in range(args.rows)]  # one image per patient: no leakage
        images[["meta_w", "meta_h"]] = 1024
        images["image_id"] = [f"{i // 10:08d}_{i % 10:03d}.png" for i in range(args.rows)]
        images["path"] = [f"images_{1 + i * 12 // args.rows:03d}/images/{iid}"
                          for i, iid in enumerate(images["image_id"])]
        images.to_csv(d / "images.csv", index=False)
        for folder in sorted(set(images["path"].str.rsplit("/", n=1).str[0])):
            (d / folder).mkdir(parents=True)
        paths = [d / p for p in images["path"]]
        for p in paths:
            p.touch()
        boxes = pd.DataFrame({c: rng.random(984) * 1024 for c in BOX_COLUMNS})
        boxes["image_id"] = images["image_id"].iloc[:984].to_numpy()
        boxes["label"] = "Mass"
        boxes[["x1", "y1"]] = boxes[["x0", "y0"]].to_numpy() + 10
        boxes.to_csv(d / "boxes.csv", index=False)
        (d / "index.json").write_text(json.dumps({"root": str(d)}))
        fp_s = _best(lambda: index_fingerprint(d), args.repeats)
        read_s = _best(lambda: pd.read_csv(d / "images.csv"), args.repeats)
        contain_s = _best(lambda: first_escaping(images["path"]), args.repeats)
        loaded = pd.read_csv(d / "images.csv", dtype={"image_id": str, "path": str, "patient_id": str,
                                                       "split": str})
        checks_s = _best(lambda: check_loaded(loaded.copy(), boxes.copy(), d), args.repeats)
        stat_s = _best(lambda: file_stats(paths), args.repeats)
        size_mb = (d / "images.csv").stat().st_size / 1e6
    print(json.dumps({"rows": args.rows, "images_csv_mb": round(size_mb, 1), "fingerprint_s": round(fp_s, 4),
                      "read_csv_s": round(read_s, 4), "ratio": round(fp_s / read_s, 3),
                      "paths_inside_root_s": round(contain_s, 4), "load_index_checks_s": round(checks_s, 4),
                      "stat_files_s": round(stat_s, 4),
                      "stat_ratio": round(stat_s / read_s, 3),
                      "machine": f"{platform.machine()} {os.cpu_count()} cores", "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
