"""``agcl demo``: phantom → severity mining → index → cache → the whole pipeline, end to end on a CPU.

The full demo runs the pipeline for three training seeds with the matched control BSL+ and compares
them (``agcl run --seeds``: mean ± sd over seeds, paired CIs vs BSL and BSL+); ``--quick`` is one seed
of a smaller recipe, whose differences are not evidence. Each preparation step is idempotent (its
output is complete or absent, and found on re-run), so a killed demo resumes like ``agcl run`` does.
The demo uses only public agcl APIs: nothing here knows how the phantom is drawn — it is just an
NIH-layout folder with a ``reports.csv``.
"""

from __future__ import annotations

import logging
import time
from importlib import resources
from pathlib import Path

import pandas as pd

from agcl.errors import InputError
from agcl.io import write_json_atomic, write_with_atomic

log = logging.getLogger(__name__)

#: Phantom size of the full and the ``--quick`` demo (images, PNG side in pixels).
DEMO_PHANTOM = {"full": (800, 128), "quick": (400, 128)}
#: Training seeds of the full demo (``--quick``: the first one alone).
DEMO_SEEDS = (0, 1, 2)
#: The phantom profile the demo draws (docs/phantom.md, "Profiles").
DEMO_PROFILE = "calibrated"


def packaged_config(name: str) -> Path:
    """Path of a config shipped inside the package (``agcl/configs/<name>.yaml``)."""
    ref = resources.files("agcl") / "configs" / f"{name}.yaml"
    path = Path(str(ref))
    if not path.is_file():
        raise InputError(f"packaged config {name!r} not found at {path}")
    return path


def ensure_phantom(data_dir: Path, n: int, size: int, seed: int) -> Path:
    """``data_dir/phantom`` with the demo's profile; a phantom of another spec there (e.g. one drawn
    before the demo's profile changed) is refused, naming the whole data folder, because the severity
    table, index and cache beside it were built from that phantom."""
    from agcl.data.phantom import synthesize

    out = data_dir / "phantom"
    log.info("phantom: %s (%d images, %d px, profile %s)", out, n, size, DEMO_PROFILE)
    try:
        return Path(synthesize(out, n=n, size=size, seed=seed, profile=DEMO_PROFILE))
    except InputError as exc:
        raise InputError(f"{exc} (agcl demo: delete all of {data_dir}, whose severity table, index and cache "
                         "were built from that phantom, and the run directory, or pass another --data-dir)") from None


def ensure_severity(phantom: Path, out: Path) -> Path:
    """Mine the phantom's ``reports.csv`` into a severity table (:mod:`agcl.reports`, docs/mining.md), once."""
    if out.is_file():
        return out
    from agcl.reports.aggregate import aggregate
    from agcl.reports.mining import mine_reports

    reports_csv = phantom / "reports.csv"
    try:
        reports = pd.read_csv(reports_csv, dtype=str, keep_default_na=False)
    except OSError as exc:
        raise InputError(f"cannot read {reports_csv}: {exc}") from None
    if not {"image_id", "report"} <= set(reports.columns):
        raise InputError(f"{reports_csv} needs columns image_id, report")
    t0 = time.perf_counter()
    table = aggregate(mine_reports(zip(reports["image_id"], reports["report"], strict=True)))
    write_with_atomic(out, lambda p: table.to_csv(p, index=False))
    graded = table[(table["status"] == "positive") & (table["severity"] != "none")]
    log.info("mined %d reports in %.1f s: %d positive findings, %d with a severity grade -> %s",
             len(reports), time.perf_counter() - t0, int((table["status"] == "positive").sum()), len(graded), out)
    return out


def ensure_index(phantom: Path, index_dir: Path, seed: int) -> Path:
    if (index_dir / "index.json").is_file():
        return index_dir
    from agcl.data.index import save_index
    from agcl.data.nih import NihOptions, build_nih_index

    images, boxes, info = build_nih_index(phantom, NihOptions(seed=seed))
    save_index(index_dir, images, boxes, info)
    log.info("indexed %d images, %d test boxes -> %s", len(images), len(boxes), index_dir)
    return index_dir


def ensure_cache(index_dir: Path, size: int, progress: bool) -> Path:
    from agcl.data.cache import prepare_cache

    return Path(prepare_cache(index_dir, size=size, progress=progress))


def run_demo(run_dir: Path, data_dir: Path, *, quick: bool, overrides: list[str],
             seeds: list[int] | None = None) -> dict:
    """The whole demo; returns ``compare`` (the multi-seed comparison folder; None for ``--quick``, which
    is one run in ``run_dir``), ``summaries`` (stage summaries per seed) and ``timing`` (seconds per step)."""
    from agcl.runlock import folder_lock

    run_dir, data_dir = Path(run_dir), Path(data_dir)
    if data_dir.absolute() == run_dir.absolute() or run_dir.absolute() in data_dir.absolute().parents or \
            data_dir.absolute() in run_dir.absolute().parents:
        raise InputError(f"--data-dir {data_dir} and --run-dir {run_dir} must be separate folders (neither inside "
                         "the other)")
    from agcl.pipeline.driver import load_pipeline_config, run_pipeline
    from agcl.pipeline.multiseed import run_training_seeds

    timing: dict[str, float] = {}
    t_all = time.perf_counter()
    base = load_pipeline_config(packaged_config("demo"), overrides)
    n, size = DEMO_PHANTOM["quick" if quick else "full"]
    seeds = [DEMO_SEEDS[0]] if quick else list(seeds or DEMO_SEEDS)
    for folder, what in ((run_dir, "--run-dir"), (data_dir, "--data-dir")):
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{what} {folder} exists and is not a folder")
    with folder_lock(data_dir):  # the run directory is locked by run_pipeline / run_training_seeds
        t0 = time.perf_counter()
        phantom = ensure_phantom(data_dir, n, size, base.runtime.seed)
        timing["synthesize"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        severity = ensure_severity(phantom, data_dir / "severity.csv")
        timing["mine"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        index_dir = ensure_index(phantom, data_dir / "index", base.runtime.seed)
        cache_dir = ensure_cache(index_dir, base.data.image_size, base.runtime.progress)
        timing["index+prepare"] = time.perf_counter() - t0
    quick_sets = ["optim.max_epochs=2", "refine_train.max_epochs=1", "refine.rounds=1",
                  "curriculum.epochs_per_stage=1"] if quick else []
    sets = [f"data.index_dir={index_dir.resolve()}", f"data.cache_dir={cache_dir.resolve()}",
            f"source.severity={severity.resolve()}",
            f"source.truth_boxes={(phantom / 'truth' / 'lesions.csv').resolve()}", *quick_sets, *overrides]
    cfg = load_pipeline_config(packaged_config("demo"), sets)
    t0 = time.perf_counter()
    if quick:
        compare, summaries = None, {seeds[0]: run_pipeline(cfg, run_dir)}
    else:
        result = run_training_seeds(cfg, run_dir, seeds)
        compare, summaries = result.compare, result.summaries
        timing.update(result.seconds)
    timing["pipeline"] = time.perf_counter() - t0
    timing["total"] = time.perf_counter() - t_all
    stages = {f"seed_{s}": {k: v.get("seconds") for k, v in summ.items() if isinstance(v, dict)}
              for s, summ in summaries.items()}
    write_json_atomic(run_dir / "demo_timing.json", {"quick": quick, "phantom_images": n, "phantom_size": size,
                                                     "training_seeds": seeds,
                                                     "phantom_profile": DEMO_PROFILE,
                                                     "steps_s": {k: round(v, 1) for k, v in timing.items()},
                                                     "stages_s": stages})
    return {"compare": compare, "summaries": summaries, "timing": timing}
