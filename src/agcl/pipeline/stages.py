"""The pipeline as a DAG of stages over a run directory, with DONE markers for resume.

A stage writes its artifacts (each atomically) into ``RUN/stage_<name>/`` and writes ``DONE`` last. On
re-run, a stage whose directory holds ``DONE`` is skipped; a stage without it is re-entered and resumes
from whatever epoch checkpoints it left (training stages) or recomputes its outputs (pure stages).

Under torchrun every rank walks the same DAG (:func:`run_unit`): a *collective* stage (training,
inference) runs on every rank and rank 0 alone writes its outputs; any other stage runs on rank 0 while
the others wait at a barrier. Rank 0 writes ``DONE`` once every rank has finished the stage, so resume
after a kill reads the same markers as in one process (docs/pipeline.md, "Under torchrun").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agcl.errors import ConfigError
from agcl.io import write_json_atomic
from agcl.train.distributed import DistInfo, barrier

log = logging.getLogger(__name__)

DONE = "DONE"


@dataclass(frozen=True)
class Stage:
    """One node of the pipeline DAG.

    Attributes:
        name: directory suffix (``RUN/stage_<name>``); ``eval`` maps to ``RUN/eval``.
        deps: names of the stages whose outputs this one reads.
        run: ``run(stage_dir) -> dict`` does the work and returns a small summary stored in DONE.
        collective: under torchrun every rank calls ``run`` (it trains or infers with all of them);
            otherwise rank 0 alone does.
    """

    name: str
    deps: tuple[str, ...] = ()
    run: Callable[[Path], dict] | None = field(default=None, compare=False)
    collective: bool = False


def stage_dir(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / ("eval" if name == "eval" else f"stage_{name}")


def is_done(path: Path) -> bool:
    return (Path(path) / DONE).is_file()


def read_done(path: Path) -> dict:
    """The summary a finished stage stored in its DONE (a damaged marker is a one-line error)."""
    from agcl.fingerprints import read_done_file

    return read_done_file(Path(path) / DONE)


def mark_done(path: Path, summary: dict) -> None:
    """Write the DONE marker (must be the stage's last write)."""
    write_json_atomic(Path(path) / DONE, summary)


def topological(stages: Sequence[Stage]) -> list[Stage]:
    """Check the DAG (unique names, known deps, no cycles) and return a run order.

    The order is stable: among ready stages the one listed first runs first.
    """
    by_name: dict[str, Stage] = {}
    for s in stages:
        if s.name in by_name:
            raise ValueError(f"duplicate stage {s.name!r}")
        by_name[s.name] = s
    for s in stages:
        for d in s.deps:
            if d not in by_name:
                raise ValueError(f"stage {s.name!r} depends on unknown stage {d!r}")
    order: list[Stage] = []
    placed: set[str] = set()
    pending = list(stages)
    while pending:
        ready = [s for s in pending if all(d in placed for d in s.deps)]
        if not ready:
            raise ValueError(f"dependency cycle among {[s.name for s in pending]}")
        nxt = ready[0]
        order.append(nxt)
        placed.add(nxt.name)
        pending.remove(nxt)
    return order


def run_unit(path: Path, work: Callable[[], dict], dist: DistInfo, *, collective: bool) -> dict:
    """Do one unit of work whose outputs go to ``path`` (a stage, or one disease of a curriculum stage),
    then mark it DONE; returns its summary (rank 0's, on every rank).

    One process: ``work()``, then DONE. Under torchrun: every rank calls ``work`` when ``collective``
    (rank 0 alone writes inside it), else rank 0 alone; rank 0 writes DONE after every rank is through.
    """
    if dist.is_main:
        path.mkdir(parents=True, exist_ok=True)
    barrier(dist)
    summary = work() if collective or dist.is_main else {}
    barrier(dist)  # every rank's part is over (and rank 0's files are written) before DONE
    if dist.is_main:
        mark_done(path, summary)
    barrier(dist)
    return summary if dist.is_main else read_done(path)


def execute(run_dir: Path, stages: Sequence[Stage], *, only: Sequence[str] | None = None,
            dist: DistInfo | None = None) -> dict[str, dict]:
    """Run every stage without DONE, in dependency order; return each stage's summary.

    Args:
        run_dir: the run directory.
        stages: the DAG.
        only: if given, stop after these stages (and their dependencies) are done.
        dist: this process under torchrun (default: a single process); see :func:`run_unit`.
    """
    dist = dist or DistInfo()
    order = topological(stages)
    if only:
        needed = _closure(order, only)
        order = [s for s in order if s.name in needed]
    summaries: dict[str, dict] = {}
    for i, s in enumerate(order, 1):
        sdir = stage_dir(run_dir, s.name)
        if is_done(sdir):
            log.info("stage %s [%d/%d]: done, skipped", s.name, i, len(order))
            summaries[s.name] = read_done(sdir)
            continue
        for d in s.deps:
            if not is_done(stage_dir(run_dir, d)):  # pragma: no cover - guarded by the order
                raise RuntimeError(f"stage {s.name} started before {d} finished")
        log.info("stage %s [%d/%d]: running", s.name, i, len(order))
        summaries[s.name] = run_unit(sdir, lambda s=s, sdir=sdir: s.run(sdir) if s.run is not None else {}, dist,
                                     collective=s.collective)
    return summaries


def _closure(order: Sequence[Stage], only: Sequence[str]) -> set[str]:
    by_name = {s.name: s for s in order}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown} in --only; known: {', '.join(by_name)}")
    need: set[str] = set()
    todo = list(only)
    while todo:
        n = todo.pop()
        if n not in need:
            need.add(n)
            todo.extend(by_name[n].deps)
    return need
