"""Phantom synthesis speed (and, with ``--fit``, the Monte Carlo fit of the finding base logits).

    python benchmarks/bench_synth.py --n 3000 --size 256 --workers 2          # speed, JSON
    python benchmarks/bench_synth.py --fit --n 30000                            # refit BASE_LOGIT, JSON

Speed mode times ``synthesize`` end to end (planning, rendering, PNG encoding, CSVs) into a temporary
folder and prints images per second. Fit mode plans (does not render) a large cohort repeatedly and
moves each class's base logit towards its target prevalence; paste the result into spec.BASE_LOGIT.
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

from agcl.data.phantom import DEFAULT_PROFILE, PhantomSpec, synthesize
from agcl.data.phantom import spec as spec_module
from agcl.data.phantom.cohort import plan_cohort
from agcl.labels import LABELS


def fit(n: int, iters: int) -> dict:
    """Fixed-point iteration on logits: logit += 0.8 * (logit(target) - logit(observed))."""
    sp = PhantomSpec(n=n)
    history = []
    for it in range(iters):
        plans = plan_cohort(sp, seed=1000 + it)
        prev = {lab: float(np.mean([lab in p.true_labels for p in plans])) for lab in LABELS}
        no_finding = float(np.mean([not p.lesions for p in plans]))
        history.append({"iter": it, "no_finding": round(no_finding, 4), "prevalence": {k: round(v, 4) for k, v in prev.items()}})
        for lab in LABELS:
            t, o = spec_module.TARGET_PREVALENCE[lab], min(max(prev[lab], 1e-4), 1 - 1e-4)
            spec_module.BASE_LOGIT[lab] += 0.8 * (np.log(t / (1 - t)) - np.log(o / (1 - o)))
    return {"base_logit": {k: round(float(v), 2) for k, v in spec_module.BASE_LOGIT.items()}, "history": history}


def speed(n: int, size: int, workers: int, seed: int, profile: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = synthesize(Path(tmp) / "ph", n=n, size=size, seed=seed, workers=workers, profile=profile)
        dt = time.perf_counter() - t0
        nbytes = sum(f.stat().st_size for f in (out / "images").iterdir())
    return {"n": n, "size": size, "profile": profile, "workers": workers, "seconds": round(dt, 2),
            "images_per_second": round(n / dt, 1), "png_mib": round(nbytes / 2**20, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "load_avg_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", default=DEFAULT_PROFILE, help="phantom profile (docs/bench/phantom.md: shortcuts)")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--iters", type=int, default=6)
    args = ap.parse_args()
    result = fit(args.n, args.iters) if args.fit else speed(args.n, args.size, args.workers, args.seed, args.profile)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
