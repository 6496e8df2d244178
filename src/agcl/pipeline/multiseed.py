"""``agcl run --seeds 0,1,2``: the pipeline once per training seed, then ``agcl compare`` over the seeds.

Layout (docs/pipeline.md, "Several training seeds")::

    RUN/config.yaml        the shared recipe (runtime.seed is replaced by each seed)
    RUN/multiseed.json     the training seeds and where their runs are (written before any training)
    RUN/environment.json   the machine, library builds and threads of each invocation
    RUN/seed_<k>/          a complete run directory with runtime.seed = k (resumable like any run)
    RUN/compare/           mean ± sd over seeds, controls, paired CIs (:mod:`agcl.pipeline.compare_runs`)
    [RUN/stage_index, RUN/stage_prepare]   only with source.raw_dir: indexed and cached once, shared

Every seed reads the same index, cache and severity table, so the seeds differ only in what the
training seed draws (initialisation of new heads, data order, augmentation); the split, the phantom and
``curriculum.seed`` (negative sampling of the binary networks) stay fixed. Re-running the same command
resumes every seed and redoes the (cheap) comparison.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from agcl.errors import ConfigError, InputError
from agcl.io import write_json_atomic
from agcl.pipeline.settings import PipelineConfig

log = logging.getLogger(__name__)

LAYOUT = "multiseed.json"
COMPARE = "compare"


@dataclass
class SeedsResult:
    """What :func:`run_training_seeds` did: ``compare`` (``RUN/compare``, None until every seed finished), each
    seed's stage summaries, and wall seconds per seed and for the comparison."""

    compare: Path | None = None
    summaries: dict[int, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def seed_dir(run_dir: Path, seed: int) -> Path:
    return Path(run_dir) / f"seed_{seed}"


def is_multiseed(run_dir: Path) -> bool:
    return (Path(run_dir) / LAYOUT).is_file()


def seed_runs(run_dir: Path) -> list[Path]:
    """The seed run directories a multi-seed folder lists (in its ``multiseed.json`` order)."""
    path = Path(run_dir) / LAYOUT
    try:
        layout = json.loads(path.read_text(encoding="utf-8"))
        return [Path(run_dir) / str(name) for name in layout["runs"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: unreadable multi-seed layout ({exc})") from None


def parse_seeds(values: list[str]) -> list[int]:
    """``--seeds 0,1,2`` (or ``"0 1 2"``) as a list of distinct seeds ≥ 0; ConfigError naming the flag otherwise."""
    items = [x for v in values for x in str(v).replace(",", " ").split()]
    try:
        seeds = [int(x) for x in items]
    except ValueError:
        raise ConfigError(f"--seeds takes integers such as 0,1,2, got {' '.join(values)!r}") from None
    return check_seeds(seeds)


def check_seeds(seeds: list[int]) -> list[int]:
    """The training seeds as given (each ≥ 0, no repeats); ConfigError otherwise."""
    if not seeds:
        raise ConfigError("--seeds needs at least one training seed")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must be distinct non-negative integers, got {seeds}")
    return list(seeds)


def seed_config(cfg: PipelineConfig, seed: int, data: dict[str, str] | None = None) -> PipelineConfig:
    """``cfg`` with ``runtime.seed = seed`` (and the shared index/cache when the parent prepared them)."""
    out = dataclasses.replace(cfg, runtime=dataclasses.replace(cfg.runtime, seed=seed))
    return dataclasses.replace(out, data=dataclasses.replace(out.data, **data)) if data else out


def _shared_data(cfg: PipelineConfig, run_dir: Path) -> dict[str, str] | None:
    """With ``source.raw_dir``: index and cache once in the parent (its stage_index / stage_prepare)."""
    from agcl.pipeline.driver import build_stages, make_context
    from agcl.pipeline.stages import execute

    if cfg.data.index_dir:
        return None
    ctx = make_context(cfg, run_dir)
    execute(run_dir, [s for s in build_stages(ctx) if s.name in ("index", "prepare")], dist=ctx.env.dist)
    return {"index_dir": str(ctx.index_dir), "cache_dir": str(ctx.cache_dir)}


def run_training_seeds(cfg: PipelineConfig, run_dir: Path, seeds: list[int], *, only: list[str] | None = None,
                       n_boot: int | None = None, fresh: bool = False,
                       config_path: Path | None = None) -> SeedsResult:
    """Run (or resume) the pipeline for every training seed under ``run_dir``, then compare them.

    ``result.compare`` is ``RUN/compare`` when every seed finished its evaluation (``only`` may stop
    earlier), else None. The comparison uses ``n_boot`` resamples (default ``eval.bootstrap``, or 1000
    when that is 0). Under torchrun every rank runs every seed; rank 0 alone writes and compares.
    """
    from agcl.paths import remove_own
    from agcl.pipeline.driver import make_context
    from agcl.pipeline.preflight import GENERATED, GENERATED_PATTERN, preflight
    from agcl.runlock import folder_lock
    from agcl.train.distributed import barrier, env_dist_info

    run_dir, seeds = Path(run_dir), check_seeds(seeds)
    preflight(make_context(cfg, run_dir), config_path)  # every input, before anything is written
    info = env_dist_info()
    with folder_lock(run_dir, enabled=info.is_main):  # each seed_<k> is locked by its own run_pipeline
        if fresh and info.is_main:
            remove_own(run_dir, GENERATED, GENERATED_PATTERN)
        barrier(info)
        return _run_seeds_locked(cfg, run_dir, seeds, only, n_boot, info)


def _run_seeds_locked(cfg: PipelineConfig, run_dir: Path, seeds: list[int], only: list[str] | None,
                      n_boot: int | None, info) -> SeedsResult:
    from agcl.environment import record_environment
    from agcl.pipeline.compare_runs import compare_runs
    from agcl.pipeline.driver import check_resume_config, run_pipeline, write_run_config
    from agcl.train.distributed import barrier

    if not is_multiseed(run_dir) and any(run_dir.glob("stage_*")) and not _only_data_stages(run_dir):
        raise ConfigError(f"{run_dir} is a single-seed run directory; give --seeds a new --run-dir (or --fresh)")
    check_resume_config(run_dir, cfg)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir / "config.yaml", cfg)
        write_json_atomic(run_dir / LAYOUT, {"schema": 1, "seeds": seeds,
                                             "runs": [seed_dir(run_dir, s).name for s in seeds]})
        record_environment(run_dir)
    barrier(info)
    result = SeedsResult()
    data = _shared_data(cfg, run_dir)
    for i, s in enumerate(seeds, 1):
        log.info("training seed %d (%d of %d) -> %s", s, i, len(seeds), seed_dir(run_dir, s))
        t0 = time.perf_counter()
        result.summaries[s] = run_pipeline(seed_config(cfg, s, data), seed_dir(run_dir, s), only=only)
        result.seconds[f"seed_{s}"] = round(time.perf_counter() - t0, 1)
    finished = all((seed_dir(run_dir, s) / "eval" / "DONE").is_file() for s in seeds)
    if not info.is_main or not finished:
        return result
    t0 = time.perf_counter()
    result.compare = run_dir / COMPARE
    compare_runs([seed_dir(run_dir, s) for s in seeds], result.compare, n_boot=n_boot or cfg.eval.bootstrap or 1000,
                 progress=cfg.runtime.progress)
    result.seconds["compare"] = round(time.perf_counter() - t0, 1)
    log.info("compared %d training seeds in %.1f s -> %s", len(seeds), result.seconds["compare"], result.compare)
    return result


def _only_data_stages(run_dir: Path) -> bool:
    return {p.name for p in run_dir.glob("stage_*")} <= {"stage_index", "stage_prepare"}
