"""Time ``agcl compare`` on finished runs (target: 3 demo runs, 1,000 resamples, ≤ 30 s); prints JSON.

    python benchmarks/bench_compare.py runs/demo                  # a folder written by `agcl demo` / `--seeds`
    python benchmarks/bench_compare.py runs/a runs/b runs/c --resamples 1000

The comparison is written to a temporary folder (the runs are only read). Reading the runs and the
paired bootstrap are timed together, as `agcl compare` does them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from agcl.environment import cpu_model
from agcl.pipeline.compare_runs import compare_runs
from agcl.pipeline.multiseed import is_multiseed, seed_runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    paths = [p for r in args.runs for p in (seed_runs(r) if is_multiseed(r) else [r])]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            t0 = time.perf_counter()
            info = compare_runs(paths, Path(tmp) / f"c{i}", n_boot=args.resamples, progress=False)
            times.append(round(time.perf_counter() - t0, 2))
    print(json.dumps({"machine": f"{platform.machine()} {cpu_model()}", "cpus": os.cpu_count(),
                      "load_average": os.getloadavg(), "runs": len(paths), "resamples": args.resamples,
                      "models": info["models"], "n_test_images": info["n_test_images"], "wall_s": times,
                      "target_s": 30, "met": max(times) <= 30}, indent=1))


if __name__ == "__main__":
    main()
