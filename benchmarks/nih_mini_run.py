"""The whole real-data path on nih-cxr14-mini, timed step by step; prints JSON.

index (mini_split.csv) -> prepare -> `agcl run --config configs/nih-mini.yaml` -> `agcl evaluate` of every
model stage plus the uniform and centre controls under both box generators (wang2017, cam20).
Each step is an `agcl` subprocess; `agcl run` resumes a finished run as a no-op, so re-running the
script on the same WORK dir only re-times the cheap steps. Results: docs/results_nih_mini.md.

    python benchmarks/nih_mini_run.py /data/nih-cxr14-mini --work runs/nih-mini-bench
    python benchmarks/nih_mini_run.py MINI --work W --set model.backbone=resnet18 \\
        --set model.pretrained=/path/to/resnet18-f37072fd.pth
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

AGCL = [str(Path(sys.executable).with_name("agcl"))]  # the console script of this venv
GENERATORS = ("wang2017", "cam20")


def timed(args: list[str]) -> float:
    """Run one agcl command (its output goes to stderr); return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([*AGCL, *args], check=True, stdout=sys.stderr)  # stdout carries only the JSON
    return round(time.perf_counter() - start, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mini", type=Path, help="nih-cxr14-mini folder (NIH layout + mini_split.csv)")
    ap.add_argument("--work", type=Path, required=True, help="folder for index, cache and run dir")
    ap.add_argument("--index", type=Path, default=None,
                    help="reuse this index (+ its cache_<size>) instead of indexing/preparing into WORK/index")
    ap.add_argument("--size", type=int, default=128, help="cache side S (must match data.image_size)")
    ap.add_argument("--config", default="configs/nih-mini.yaml")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra agcl run --set KEY=VALUE")
    a = ap.parse_args()
    index, run = a.index or a.work / "index", a.work / "run"
    seconds: dict[str, float] = {}
    if a.index is None:
        seconds["index"] = timed(["index", str(a.mini), "--split-file", str(a.mini / "mini_split.csv"),
                                  "--out", str(index)])
        seconds["prepare"] = timed(["prepare", str(index), "--size", str(a.size)])
    sets = [f"data.index_dir={index}", f"data.image_size={a.size}", *a.sets]
    seconds["run"] = timed(["run", "--config", a.config, "--run-dir", str(run),
                            *[x for s in sets for x in ("--set", s)]])
    stages = sorted(p for p in run.glob("stage_*") if (p / "heatmaps.npy").is_file())
    order = {"bsl": 0, "agl": 1}
    stages.sort(key=lambda p: (order.get(p.name[6:], 2), p.name))
    for gen in GENERATORS:
        seconds[f"evaluate_{gen}"] = timed(
            ["evaluate", str(index), *[x for s in stages for x in ("--stage", str(s))],
             "--control", "uniform", "--control", "centre", "--generator", gen,
             "--cache", str(index / f"cache_{a.size}"), "--out", str(run / f"eval_{gen}")])
    print(json.dumps({"seconds": seconds, "stages": [p.name for p in stages], "run_dir": str(run),
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores", "loadavg": os.getloadavg()},
                     indent=1))


if __name__ == "__main__":
    main()
