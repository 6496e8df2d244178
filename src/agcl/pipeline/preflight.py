"""What ``agcl run`` checks before it writes anything, and what ``--fresh`` may remove.

:func:`preflight` opens every input a later stage will need — the index, the image cache (size, index
fingerprint, changed image files), the severity table, the truth boxes, the model spec and its
weights file — so a bad setting fails in the first second with one line, before ``config.yaml`` exists,
instead of at stage 4 with a run directory that then refuses the corrected command. It only reads.

:data:`GENERATED` / :data:`GENERATED_PATTERN` name what ``agcl run`` writes at the top of a run directory:
the only entries ``agcl run --fresh`` removes (:func:`agcl.paths.remove_own`), and the places where an
input may not live.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from agcl.errors import ConfigError, InputError
from agcl.paths import regular_file, same_file
from agcl.pipeline.context import RunContext

log = logging.getLogger(__name__)

#: Files and folders of a run directory that agcl writes (``--fresh`` removes exactly these).
GENERATED: tuple[str, ...] = ("config.yaml", "metrics.jsonl", "pipeline.log", "demo_timing.json", "environment.json",
                              "multiseed.json", "tb", "eval", "compare")
#: ... and these names (stage folders, per-rank event folders of ``curriculum.distribute=labels``, the
#: runs of ``--seeds``).
GENERATED_PATTERN = r"stage_[A-Za-z0-9_]+|rank[0-9]+|seed_[0-9]+"


def _inside_generated(path: Path, run_dir: Path) -> str | None:
    """The generated entry of ``run_dir`` that ``path`` lies in (or is), else None."""
    try:
        rel = path.resolve().relative_to(run_dir.resolve())
    except (ValueError, OSError, RuntimeError):
        return None
    if not rel.parts:
        return None
    top = rel.parts[0]
    return top if top in GENERATED or re.fullmatch(GENERATED_PATTERN, top) else None


def run_inputs(cfg, config_path: Path | None) -> list[tuple[str, Path]]:
    """``(setting, path)`` of every input named by the config (and the config file itself)."""
    named = [("--config", config_path), ("source.severity", cfg.source.severity),
             ("source.truth_boxes", cfg.source.truth_boxes), ("source.raw_dir", cfg.source.raw_dir),
             ("data.index_dir", cfg.data.index_dir), ("data.cache_dir", cfg.data.cache_dir)]
    if cfg.model.pretrained not in ("none", "imagenet"):
        named.append(("model.pretrained", cfg.model.pretrained))
    return [(k, Path(v)) for k, v in named if v]


def check_inputs_outside(run_dir: Path, inputs: list[tuple[str, Path]]) -> None:
    """Refuse an input that lies among the files a run writes (and ``--fresh`` deletes); the run's own
    ``config.yaml`` given back as ``--config`` is the one exception (that is how a run is resumed)."""
    for setting, path in inputs:
        top = _inside_generated(path, run_dir)
        if top is None or (setting == "--config" and same_file(path, run_dir / "config.yaml")):
            continue
        raise InputError(f"{setting} {path} lies inside {run_dir / top}, which agcl run writes (and --fresh "
                         "deletes); move it out of the run directory")


def preflight(ctx: RunContext, config_path: Path | None = None) -> None:
    """Check every path, file and setting the stages of ``ctx.cfg`` will need, reading only.

    Raises:
        AgclError: the first problem found, naming the setting and the file.
    """
    cfg = ctx.cfg
    check_inputs_outside(ctx.run_dir, run_inputs(cfg, config_path))
    if ctx.run_dir.exists() and not ctx.run_dir.is_dir():
        raise InputError(f"--run-dir {ctx.run_dir} exists and is not a folder")
    _check_model(ctx)
    if cfg.data.index_dir:
        _check_index_and_cache(ctx)
    elif cfg.source.raw_dir:
        from agcl.data.nih import read_nih_tables

        read_nih_tables(cfg.source.raw_dir)  # the metadata, split lists and boxes the index stage will read
    else:
        raise ConfigError("set data.index_dir (an `agcl index` folder) or source.raw_dir (an NIH-layout folder)")
    if cfg.source.severity:
        if cfg.data.index_dir:
            _ = ctx.severity  # read, checked and joined now; the curriculum stages reuse it
        else:
            from agcl.pipeline.context import load_severity

            load_severity(Path(cfg.source.severity), None)
    if cfg.source.truth_boxes:
        from agcl.pipeline.context import load_truth

        load_truth(Path(cfg.source.truth_boxes))


def _check_model(ctx: RunContext) -> None:
    from agcl.models.build import normalize_spec

    for kind in ("multilabel", "binary", "two_path"):
        normalize_spec(ctx.model_spec(kind))
    pretrained = ctx.cfg.model.pretrained
    if pretrained not in ("none", "imagenet"):
        from agcl.models.backbones import read_state_file

        read_state_file(regular_file(Path(pretrained).expanduser(), "model.pretrained weights"))  # loadable, safely


def _check_index_and_cache(ctx: RunContext) -> None:
    images = ctx.index.images
    for split in ("train", "val", "test"):
        if not (images["split"] == split).any():
            raise InputError(f"index {ctx.index_dir} has no '{split}' images; agcl run needs train (training), "
                             "val (early stopping, seed thresholds) and test (evaluation) images")
    _ = ctx.cache  # complete, of size data.image_size, built from this index, no image file changed since
    cfg = ctx.cfg
    if cfg.seeds.reference != "none" and (cfg.refine.agl or cfg.refine.rounds > 0):
        from agcl.pipeline.harvest import reference_rows

        reference_rows(ctx)  # the seed stages will need No Finding training images
