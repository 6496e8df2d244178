"""The resumable AGCL pipeline over a run directory (``agcl run`` / ``agcl demo``).

DAG (k = ``refine.rounds``; the AGL branch only with ``refine.agl``, BSL+ only with ``refine.control``)::

    [index → prepare]  (only when source.raw_dir is given instead of data.index_dir)
    bsl ─┬─ bsl_plus   (the matched control BSL+: the refinement's training at λ = 0, no seeds)
         ├─ seeds_agl → agl
         └─ curriculum_r1 → seeds_r1 → agcl_1 → curriculum_r2 → seeds_r2 → agcl_2 … → agcl_k
    eval (bsl, bsl_plus, agl, agcl_1…k, and the uniform / centre controls of eval.controls)

Every stage writes its artifacts atomically and ``DONE`` last (:mod:`agcl.pipeline.stages`); a re-run
skips finished stages and a killed training stage resumes from its last epoch checkpoint. Under torchrun
the training and inference stages (bsl, curriculum, seeds_agl, seeds_r<k>, agl, agcl_k) run on every rank; the
others run on rank 0 (docs/pipeline.md, "Under torchrun").
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from agcl.config import dump_config, load_config, to_dict
from agcl.errors import ConfigError, short_repr
from agcl.fingerprints import check_run_stages
from agcl.io import write_text_atomic
from agcl.paths import remove_own
from agcl.pipeline.context import RunContext
from agcl.pipeline.settings import PipelineConfig
from agcl.pipeline.stages import Stage, execute, stage_dir
from agcl.train.distributed import barrier

log = logging.getLogger(__name__)

#: Settings that may change between a run and its resumption (they do not change any number).
RESUME_SAFE = ("runtime.progress", "runtime.num_threads", "runtime.log_every", "data.num_workers",
               "data.pin_memory", "data.persistent_workers", "data.prefetch_factor",
               "data.eval_batch_size", "curriculum.distribute")


def load_pipeline_config(path: str | Path | None, overrides=()) -> PipelineConfig:
    return load_config(path, overrides, schema=PipelineConfig)


def flatten(d: dict, prefix: str = "") -> dict:
    """A nested config dict as ``{"section.key": value}``."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def saved_config(path: Path, schema: type) -> dict:
    """A run's ``config.yaml`` read through ``schema``, flattened to ``{"section.key": value}``.

    A key the file lacks (it was written by an older agcl) takes the value the section declares in its
    ``ABSENT`` class attribute (what that agcl did before the key existed), else today's default, so a
    new key that keeps the old behaviour never blocks a resume and one that changes numbers does.
    Renamed keys are read under their new names (``RENAMED``).
    """
    import dataclasses

    from agcl.config import from_dict
    from agcl.config.loader import read_yaml

    raw = read_yaml(path, "run config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} is not a config (a mapping); use a new --run-dir or --fresh")
    try:
        cfg = from_dict(schema, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path} cannot be read by this agcl ({exc}); use a new --run-dir or --fresh") from None
    flat = flatten(to_dict(cfg))
    for f in dataclasses.fields(schema):
        written = raw.get(f.name)
        for key, value in getattr(type(getattr(cfg, f.name)), "ABSENT", {}).items():
            if not isinstance(written, dict) or key not in written:
                flat[f"{f.name}.{key}"] = value
    return flat


def config_differences(old: dict, new: dict, ignore=()) -> list[str]:
    """Flattened keys whose values differ between two configs, except :data:`RESUME_SAFE` and ``ignore``.

    A key that one side lacks (added to agcl after that run started) reads as its default.
    """
    old, new = flatten(old), flatten(new)
    default = flatten(to_dict(PipelineConfig()))
    return sorted(k for k in set(old) | set(new)
                  if old.get(k, default.get(k)) != new.get(k, default.get(k)) and k not in RESUME_SAFE
                  and k not in ignore)


def check_resume_config(run_dir: Path, cfg: PipelineConfig) -> None:
    """Refuse to continue a run directory with a config that would change its numbers.

    A setting the saved config does not name (it was written before the setting existed) counts as its
    default value, or as the section's ``ABSENT`` entry (:func:`saved_config`).
    """
    path = run_dir / "config.yaml"
    if not os.path.lexists(path):
        return
    old, new = saved_config(path, type(cfg)), flatten(to_dict(cfg))
    diff = config_differences(old, new)
    if diff:
        shown = ", ".join(f"{k}: {short_repr(old.get(k))} -> {short_repr(new.get(k))}" for k in diff[:4])
        raise ConfigError(f"run directory {run_dir} was started with another config ({shown}"
                          f"{', …' if len(diff) > 4 else ''}); use a new --run-dir, the same settings, or --fresh")


def build_stages(ctx: RunContext) -> list[Stage]:
    """The pipeline DAG for ``ctx.cfg`` (see the module docstring)."""
    from agcl.pipeline.baseline import run_baseline
    from agcl.pipeline.binary import run_curriculum
    from agcl.pipeline.compare import CONTROL, run_compare
    from agcl.pipeline.harvest import run_seeds, run_seeds_agl
    from agcl.pipeline.refine import run_refine

    cfg, run = ctx.cfg, ctx.run_dir
    d = lambda name: stage_dir(run, name)  # noqa: E731
    ckpt = lambda name: d(name) / "checkpoint.pt"  # noqa: E731
    stages: list[Stage] = []
    data_deps: tuple[str, ...] = ()
    if _needs_data_stages(cfg):
        stages += [Stage("index", (), lambda sd: _index_stage(ctx, sd)),
                   Stage("prepare", ("index",), lambda sd: _prepare_stage(ctx, sd))]
        data_deps = ("prepare",)
    stages.append(Stage("bsl", data_deps, lambda sd: run_baseline(ctx, sd), collective=True))
    models = [("BSL", "bsl")]
    seed_stages = []
    if cfg.refine.control:
        stages.append(Stage("bsl_plus", ("bsl",), lambda sd: run_refine(ctx, sd, "bsl_plus", None, ckpt("bsl")),
                            collective=True))
        models.append((CONTROL, "bsl_plus"))
    if cfg.refine.agl:
        stages.append(Stage("seeds_agl", ("bsl",), lambda sd: run_seeds_agl(ctx, sd, ckpt("bsl")), collective=True))
        stages.append(Stage("agl", ("seeds_agl",),
                            lambda sd: run_refine(ctx, sd, "agl", d("seeds_agl"), ckpt("bsl")), collective=True))
        models.append(("AGL", "agl"))
        seed_stages.append(("AGL", "seeds_agl"))
    for k in range(1, cfg.refine.rounds + 1):
        source = "bsl" if k == 1 else f"agcl_{k - 1}"
        prev_seeds = None if k == 1 else f"seeds_r{k - 1}"
        init = "bsl" if cfg.refine.init == "bsl" or k == 1 else f"agcl_{k - 1}"
        stages.append(Stage(f"curriculum_r{k}", (source,),
                            lambda sd, k=k, source=source: run_curriculum(ctx, sd, ckpt(source), k),
                            collective=True))
        stages.append(Stage(f"seeds_r{k}", (f"curriculum_r{k}",) + ((prev_seeds,) if prev_seeds else ()),
                            lambda sd, k=k, p=prev_seeds: run_seeds(ctx, sd, d(f"curriculum_r{k}"),
                                                                    d(p) if p else None, k),
                            collective=True))
        stages.append(Stage(f"agcl_{k}", (f"seeds_r{k}", init),
                            lambda sd, k=k, init=init: run_refine(ctx, sd, f"agcl_{k}", d(f"seeds_r{k}"), ckpt(init)),
                            collective=True))
        models.append((f"AGCL-{k}", f"agcl_{k}"))
        seed_stages.append((f"AGCL-{k}", f"seeds_r{k}"))
    stages.append(Stage("eval", tuple(s for _, s in models) + tuple(s for _, s in seed_stages),
                        lambda sd: run_compare(ctx, sd, [(n, d(s)) for n, s in models],
                                               [(n, d(s)) for n, s in seed_stages])))
    return [_timed(s, ctx) for s in stages]


def _timed(stage: Stage, ctx: RunContext) -> Stage:
    """The stage, timed, its DONE recording the index and cache it read (checked before a re-run skips it)."""
    def run(sd: Path, _f=stage.run) -> dict:
        t0 = time.perf_counter()
        out = _f(sd)
        out = dict(out or {})
        out["seconds"] = round(time.perf_counter() - t0, 2)
        if stage.name not in ("index", "prepare"):  # those two build the index and the cache
            out.update(ctx.fingerprints())
        log.info("stage %s finished in %.1f s", stage.name, out["seconds"])
        return out

    return Stage(stage.name, stage.deps, run, collective=stage.collective)


def _needs_data_stages(cfg: PipelineConfig) -> bool:
    if cfg.data.index_dir:
        return False
    if not cfg.source.raw_dir:
        raise ConfigError("set data.index_dir (an `agcl index` folder) or source.raw_dir (an NIH-layout folder)")
    return True


def _index_stage(ctx: RunContext, sd: Path) -> dict:
    from agcl.data.index import save_index
    from agcl.data.nih import NihOptions, build_nih_index

    images, boxes, info = build_nih_index(ctx.cfg.source.raw_dir, NihOptions(seed=ctx.cfg.runtime.seed))
    save_index(sd, images, boxes, info)
    return {"images": len(images), "boxes": len(boxes)}


def _prepare_stage(ctx: RunContext, sd: Path) -> dict:
    from agcl.data.cache import prepare_cache

    out = prepare_cache(ctx.index_dir, size=ctx.cfg.data.image_size, out=ctx.cache_dir,
                        progress=ctx.cfg.runtime.progress)
    return {"cache": str(out)}


def make_context(cfg: PipelineConfig, run_dir: Path) -> RunContext:
    from agcl.paths import resolved

    run_dir = resolved(run_dir, "--run-dir")
    if cfg.data.index_dir:
        index_dir = resolved(cfg.data.index_dir, "data.index_dir")
        cache_dir = resolved(cfg.data.cache_dir if cfg.data.cache_dir else index_dir / f"cache_{cfg.data.image_size}",
                             "data.cache_dir")
    else:
        index_dir = stage_dir(run_dir, "index")
        cache_dir = (resolved(cfg.data.cache_dir, "data.cache_dir") if cfg.data.cache_dir
                     else stage_dir(run_dir, "prepare") / f"cache_{cfg.data.image_size}")
    return RunContext(cfg=cfg, run_dir=run_dir, index_dir=index_dir, cache_dir=cache_dir)


def run_pipeline(cfg: PipelineConfig, run_dir: Path, *, only: list[str] | None = None, fresh: bool = False,
                 config_path: Path | None = None) -> dict:
    """Run (or resume) the whole pipeline in ``run_dir``; returns the stage summaries.

    First :func:`agcl.pipeline.preflight.preflight` checks every input (nothing is written when it
    fails); then rank 0 takes the run directory's lock (:mod:`agcl.runlock`) for the rest of the run,
    ``fresh`` removes what a previous run wrote (:data:`agcl.pipeline.preflight.GENERATED`), the config
    is checked against the one the run was started with, and ``config.yaml`` is written.

    Under torchrun every rank calls this (the process group is joined through ``ctx.env``); rank 0
    alone writes ``config.yaml``, ``pipeline.log`` and the stage outputs.
    """
    from agcl.environment import record_environment
    from agcl.pipeline.multiseed import is_multiseed
    from agcl.pipeline.preflight import GENERATED, GENERATED_PATTERN, preflight
    from agcl.runlock import folder_lock

    run_dir = Path(run_dir)
    if is_multiseed(run_dir) and not fresh:
        raise ConfigError(f"{run_dir} holds several training seeds (multiseed.json): run it with --seeds, "
                          "or give one of its seed_<k> folders")
    ctx = make_context(cfg, run_dir)
    preflight(ctx, config_path)
    info = ctx.env.dist
    with folder_lock(run_dir, enabled=info.is_main):
        if fresh and info.is_main:
            removed = remove_own(run_dir, GENERATED, GENERATED_PATTERN)
            if removed:
                log.info("--fresh: removed %s from %s", ", ".join(p.name for p in removed), run_dir)
        barrier(info)
        check_resume_config(run_dir, cfg)
        if (ctx.index_dir / "index.json").is_file():  # finished stages must come from this index and cache
            check_run_stages(run_dir, ctx.index.fingerprint, _cache_fingerprint(ctx))
        if info.is_main:
            write_run_config(run_dir / "config.yaml", cfg)
            record_environment(run_dir)  # a record, not a setting: never part of the resume check
        barrier(info)
        return _execute_logged(ctx, run_dir, only, info)


def _cache_fingerprint(ctx: RunContext) -> str | None:
    """The content fingerprint of the run's image cache (None before the cache exists)."""
    if not (ctx.cache_dir / "cache.json").is_file():
        return None
    return ctx.cache.info.get("content_fingerprint")


def write_run_config(path: Path, cfg) -> None:
    """Write the resolved config unless the file already holds exactly that text (``--config RUN/config.yaml``
    resumes a run with its own file, which is then an input and is not rewritten)."""
    text = dump_config(cfg)
    if path.is_file() and not path.is_symlink() and path.read_text(encoding="utf-8") == text:
        return
    write_text_atomic(path, text)


def _execute_logged(ctx: RunContext, run_dir: Path, only: list[str] | None, info) -> dict:
    cfg = ctx.cfg
    handler: logging.Handler = (logging.FileHandler(run_dir / "pipeline.log", encoding="utf-8") if info.is_main
                                else logging.NullHandler())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("agcl")
    root.addHandler(handler)
    try:
        if not cfg.source.severity:
            log.warning("=" * 72)
            log.warning("NO SEVERITY TABLE (source.severity is empty): no curriculum grades and S1 = {}; "
                        "AGCL degrades to AGL-like behaviour (seeds from probabilities only).")
            log.warning("=" * 72)
        t0 = time.perf_counter()
        summaries = execute(run_dir, build_stages(ctx), only=only, dist=info)
        log.info("pipeline finished in %.1f s (this invocation)", time.perf_counter() - t0)
        return summaries
    finally:
        root.removeHandler(handler)
        handler.close()
