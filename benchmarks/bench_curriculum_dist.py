"""Binary curriculum networks under torchrun: DDP per network vs diseases dealt to the ranks.

Trains the baseline once in one process (``--only bsl``), then runs the ``curriculum_r1`` stage on a
copy of that run three ways and prints JSON: one process with all threads, and ``torchrun
--nproc_per_node N`` with ``curriculum.distribute=ddp`` and ``=labels`` (threads split between the
ranks). It also says whether each torchrun variant's binary-network outputs equal the one-process ones
byte for byte.

    python benchmarks/bench_curriculum_dist.py --out /tmp/bench_cur -- \
        --set data.index_dir=IDX --set source.severity=SEV.csv --set model.backbone=tiny ...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ("val_scores.csv", "train_scores.csv", "train_cams.npy")


def _run(cmd: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def _same_outputs(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.name in COMPARED)
    return bool(files) and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", default=str(ROOT / "src/agcl/configs/demo.yaml"))
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads in total")
    ap.add_argument("sets", nargs="*", help="--set values (after --), e.g. data.index_dir=IDX")
    args = ap.parse_args()
    sets = [x for s in args.sets for x in ("--set", s)]
    base = args.out / "base"
    cli = [sys.executable, "-m", "agcl.cli", "run", "--config", args.config, *sets]
    one_thread_sets = ["--set", f"runtime.num_threads={args.threads}"]
    _run([*cli, *one_thread_sets, "--run-dir", str(base), "--only", "bsl"], args.threads)
    result: dict = {"nproc": args.nproc, "threads_total": args.threads, "settings": args.sets, "stage_s": {}}
    per_rank = max(1, args.threads // args.nproc)
    for name in ("one_process", "ddp", "labels"):
        run = args.out / name
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(base, run)
        if name == "one_process":
            cmd = [*cli, *one_thread_sets, "--run-dir", str(run), "--only", "curriculum_r1"]
            wall = _run(cmd, args.threads)
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                   str(args.nproc), "-m", "agcl.cli", "run", "--config", args.config, *sets, "--set",
                   f"runtime.num_threads={per_rank}", "--set", f"curriculum.distribute={name}",
                   "--run-dir", str(run), "--only", "curriculum_r1"]
            wall = _run(cmd, per_rank)
        done = json.loads((run / "stage_curriculum_r1" / "DONE").read_text())
        result["stage_s"][name] = {"stage": done["seconds"], "wall": round(wall, 1)}
    for name in ("ddp", "labels"):
        result[f"{name}_outputs_equal_one_process"] = _same_outputs(args.out / "one_process" / "stage_curriculum_r1",
                                                                    args.out / name / "stage_curriculum_r1")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
