"""Paired difference between one model of two sets of finished runs (B − A), over the same test images;
prints JSON. ``agcl compare`` pairs models within a run; this pairs across runs of different recipes
(e.g. AGCL-2 with and without the seed reference) or two models of the same runs (AGCL-2 − AGL).

    python benchmarks/paired_runs.py --a RAW/seed_0 RAW/seed_1 RAW/seed_2 --model-a AGCL-2 \\
        --b REF/seed_0 REF/seed_1 REF/seed_2 --model-b AGCL-2
    python benchmarks/paired_runs.py --a R/seed_{0,1,2} --model-a AGL --b R/seed_{0,1,2} --model-b AGCL-2

Runs are paired by training seed (``runtime.seed``) and must share the test split. Everything is read from
the runs' own outputs (``stage_*/predictions.csv``, ``eval/image_counts.csv``), as ``agcl compare`` does,
and the bootstrap is its paired bootstrap (mean over seeds; 95 % percentile CI over test images).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from agcl.evaluation.artifacts import read_predictions
from agcl.evaluation.inputs import load_test_set
from agcl.evaluation.paired import METRICS, paired_bootstrap
from agcl.labels import LABELS
from agcl.pipeline.compare_runs import _image_counts, open_run
from agcl.pipeline.driver import load_pipeline_config, make_context


def _model(run, name: str, ids) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities [N,14] and per-image counts [N,6] of one model of a run, in test-image order."""
    if name not in run.models or run.models[name].startswith("control:"):
        raise SystemExit(f"error: {run.path} has no trained model {name!r} (models: {', '.join(run.trained())})")
    preds = read_predictions(run.path / run.models[name]).set_index("image_id").reindex(ids)[list(LABELS)]
    if preds.isna().any().any():
        raise SystemExit(f"error: {run.path / run.models[name]} does not cover the test split")
    return preds.to_numpy(np.float64), _image_counts(run, ids, True).get(name, np.zeros((len(ids), 6)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, nargs="+", required=True, help="finished runs of A (one per training seed)")
    ap.add_argument("--model-a", required=True, help="display name in A's runs, e.g. AGCL-2")
    ap.add_argument("--b", type=Path, nargs="+", required=True, help="finished runs of B (the same training seeds)")
    ap.add_argument("--model-b", required=True)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--boot-seed", type=int, default=0)
    args = ap.parse_args()
    a = {r.seed: r for r in map(open_run, args.a)}
    b = {r.seed: r for r in map(open_run, args.b)}
    if sorted(a) != sorted(b) or len(a) != len(args.a):
        raise SystemExit(f"error: A and B must hold one run per training seed, the same seeds (A {sorted(a)}, "
                         f"B {sorted(b)})")
    first = next(iter(a.values()))
    ctx = make_context(load_pipeline_config(first.path / "config.yaml"), first.path)
    test = load_test_set(ctx.index_dir, ctx.cache_dir)
    ids = test.images["image_id"]
    runs = []
    for seed in sorted(a):
        pa, ca = _model(a[seed], args.model_a, ids)
        pb, cb = _model(b[seed], args.model_b, ids)
        runs.append((pa, pb, ca, cb))
    res = paired_bootstrap(test.images[list(LABELS)].to_numpy(), runs, args.boot, args.boot_seed)
    out = {"a": [str(p) for p in args.a], "model_a": args.model_a, "b": [str(p) for p in args.b],
           "model_b": args.model_b, "training_seeds": sorted(a), "n_test_images": int(len(ids)),
           "resamples": args.boot, "bootstrap_seed": args.boot_seed,
           "difference_b_minus_a": {m: {"point": round(res["point"][i], 4), "ci": [round(res["lo"][i], 4),
                                                                                  round(res["hi"][i], 4)],
                                        "per_seed": [round(v[i], 4) for v in res["per_seed"]]}
                                    for i, m in enumerate(METRICS)}}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
