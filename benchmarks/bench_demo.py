"""Time ``agcl demo`` end to end and run ablations of the AGCL pipeline on the demo's phantom; prints JSON.

    python benchmarks/bench_demo.py --run-dir runs/bench-demo                 # the demo, timed
    python benchmarks/bench_demo.py --run-dir runs/abl --data-dir runs/bench-demo-data \
        --ablation lam0.05=refine.lam=0.05 --ablation noseverity=source.severity= --jobs 4

Each ablation is ``NAME=KEY=VALUE[,KEY=VALUE...]`` applied on top of the demo config; ablations run as
separate processes (``--jobs`` at a time, ``--threads`` torch threads each) over the same prepared data,
each in ``<run-dir>/<NAME>``. The JSON gives per-step/per-stage seconds, mean test AUC, localization
recall/precision (Total row) and seed statistics of every run; for the (multi-seed) demo, the mean ± sd
over its training seeds of mean AUC, recall, precision, pointing and MaxBoxAcc.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _metrics(run: Path) -> dict:
    import pandas as pd

    out: dict = {}
    overview = run / "compare" / "overview.csv"
    if overview.is_file():  # several training seeds: mean ± sd over seeds (the per-seed runs are run/seed_<k>)
        over = pd.read_csv(overview).set_index("model")
        out = {m: {model: f"{r[f'{m}_mean']:.4f} ± {r[f'{m}_sd']:.4f}" for model, r in over.iterrows()}
               for m in ("auc", "recall", "precision", "pointing", "maxboxacc")}
        out["timing"] = json.loads((run / "demo_timing.json").read_text())
        return out
    auc = pd.read_csv(run / "eval" / "auc.csv")
    mean = auc[auc["label"] == "Mean"]
    out["mean_auc"] = dict(zip(mean["model"], mean["auc"].round(4), strict=True))
    loc = pd.read_csv(run / "eval" / "localization.csv")
    tot = loc[loc["label"] == "Total"]
    out["recall"] = dict(zip(tot["model"], tot["recall"].round(3), strict=True))
    out["precision"] = dict(zip(tot["model"], tot["precision"].round(3), strict=True))
    seeds = run / "eval" / "seeds.csv"
    if seeds.is_file():
        s = pd.read_csv(seeds)
        g = s.groupby("round")
        out["seeds"] = {r: {"total": int(d["total"].sum()), "S1": int(d["S1"].sum()), "S2": int(d["S2"].sum()),
                            "AGL": int(d["AGL"].sum()),
                            "mean_iobb": (round(float((d["mean_iobb"] * d["with_truth"]).sum() / d["with_truth"].sum()), 3)
                                          if "with_truth" in d and d["with_truth"].sum() else None)}
                        for r, d in g}
    timing = run / "demo_timing.json"
    if timing.is_file():
        out["timing"] = json.loads(timing.read_text())
    else:
        out["stages_s"] = {p.parent.name: json.loads(p.read_text()).get("seconds")
                           for p in sorted(run.glob("*/DONE"))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, default=None, help="prepared demo data (default: <run-dir>-data)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ablation", action="append", default=[], help="NAME=KEY=VALUE[,KEY=VALUE...]")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = args.data_dir or args.run_dir.parent / f"{args.run_dir.name}-data"
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "AGCL_LOG_LEVEL": os.environ.get("AGCL_LOG_LEVEL", "WARNING")}
    agcl = [sys.executable, "-c", "from agcl.cli import main; main()"]
    result: dict = {"machine": os.uname().machine, "cpus": os.cpu_count(), "threads_per_run": args.threads}
    if not args.ablation:
        t0 = time.perf_counter()
        cmd = [*agcl, "demo", "--run-dir", str(args.run_dir), "--data-dir", str(data),
               "--set", f"runtime.num_threads={args.threads}", "--set", "runtime.progress=false"]
        if args.quick:
            cmd.append("--quick")
        subprocess.run(cmd, check=True, env=env)
        result["demo"] = {"wall_s": round(time.perf_counter() - t0, 1), **_metrics(args.run_dir)}
    else:
        import yaml  # noqa: F401  (fail early if the env is incomplete)

        todo = []
        for spec in args.ablation:
            name, _, sets = spec.partition("=")
            todo.append((name, [s for s in sets.split(",") if s]))
        running: list[tuple[str, subprocess.Popen, float]] = []
        done: dict = {}
        while todo or running:
            while todo and len(running) < args.jobs:
                name, sets = todo.pop(0)
                cmd = [*agcl, "demo", "--run-dir", str(args.run_dir / name), "--data-dir", str(data),
                       "--set", f"runtime.num_threads={args.threads}", "--set", "runtime.progress=false"]
                for s in sets:
                    cmd += ["--set", s]
                args.run_dir.mkdir(parents=True, exist_ok=True)
                log = open(args.run_dir.parent / f"{args.run_dir.name}-{name}.log", "w")  # noqa: SIM115
                running.append((name, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT),
                                time.perf_counter()))
            time.sleep(1)
            for item in list(running):
                name, proc, t0 = item
                if proc.poll() is not None:
                    running.remove(item)
                    entry = {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - t0, 1)}
                    if proc.returncode == 0:
                        entry.update(_metrics(args.run_dir / name))
                    done[name] = entry
                    print(json.dumps({name: entry}), flush=True)
        result["ablations"] = done
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
