"""The spread of one training seed's tables across repeated runs (same or other threads, layout, machine);
prints JSON.

    agcl run --config RUN/seed_0/config.yaml --run-dir /tmp/rep                     # the same seed again
    agcl run --config RUN/seed_0/config.yaml --set runtime.num_threads=1 --run-dir /tmp/t1
    python benchmarks/repro_spread.py RUN/seed_0 /tmp/rep /tmp/t1

For every model of the first run: each run's mean AUC, recall, precision, pointing and MaxBoxAcc (Total
rows), the largest difference between runs, and the largest difference of any test probability; plus
each run's environment (CPU, threads) from its environment.json and the config keys in which it differs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from agcl.environment import summary_line
from agcl.pipeline.compare_runs import open_run, overview
from agcl.pipeline.driver import config_differences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()
    runs = [open_run(p) for p in args.runs]
    tables = [overview(r.eval_dir).set_index("model") for r in runs]
    base = yaml.safe_load((runs[0].path / "config.yaml").read_text())
    out: dict = {"runs": {}, "models": {}}
    for r in runs:
        env = json.loads((r.path / "environment.json").read_text())["invocations"]
        out["runs"][str(r.path)] = {"environment": [summary_line(e) for e in env],
                                    "differs_in": config_differences(base, yaml.safe_load((r.path / "config.yaml")
                                                                                          .read_text()))}
    for model in runs[0].trained():
        values = pd.DataFrame([t.loc[model] for t in tables], index=[str(r.path) for r in runs])
        probs = [pd.read_csv(r.path / r.models[model] / "predictions.csv").set_index("image_id").sort_index()
                 for r in runs]
        out["models"][model] = {
            "values": values.round(5).to_dict(orient="index"),
            "max_abs_diff": (values.max() - values.min()).round(5).to_dict(),
            "max_abs_prob_diff": float(max(np.abs(p.to_numpy() - probs[0].to_numpy()).max() for p in probs)),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
