"""Fingerprints that chain finished artifacts: index → image cache → stage outputs → evaluation.

Each artifact records the fingerprint of what it was built from; a consumer recomputes the current one
and refuses a mismatch with a one-line error that says what to re-run (see docs/reliability.md).
Plain file hashing on purpose: evaluation and the pipeline use it without importing the data package.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agcl.errors import InputError

#: Files of an index directory whose bytes define it (index.json adds only counts and the version).
INDEX_FILES: tuple[str, ...] = ("images.csv", "boxes.csv")


def index_fingerprint(index_dir: str | Path) -> str:
    """SHA-1 of ``images.csv``, ``boxes.csv`` and the image root recorded in ``index.json``.

    Re-indexing the same source gives the same fingerprint; any change of rows, labels, sizes, boxes or
    root gives another one.
    """
    from agcl.paths import read_bytes

    d = Path(index_dir)
    h = hashlib.sha1()
    try:
        meta = json.loads(read_bytes(d / "index.json", "index file"))
        for name in INDEX_FILES:
            h.update(name.encode() + b"\0" + read_bytes(d / name, "index file") + b"\0")
    except (InputError, ValueError) as exc:
        raise InputError(f"{d}: cannot read the index ({exc}); re-run `agcl index`") from None
    h.update(str(meta.get("root", "")).encode() if isinstance(meta, dict) else b"")
    return h.hexdigest()


#: Manifest columns that record each image file as it was when decoded (:func:`file_stats`).
STAT_COLUMNS: tuple[str, str] = ("file_size", "file_mtime_ns")


def file_stats(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Size and modification time (ns) of each file, following links; ``-1, -1`` when it cannot be read.

    The image cache records these per row, so a file replaced after caching (same name, new pixels)
    is noticed: a content change that keeps both the size and the nanosecond mtime is not (agcl does
    not hash 112k images on every start; docs/benchmarks.md has the cost).

    Shapes: returns int64 ``[N, 2]``.
    """
    out = np.full((len(paths), 2), -1, dtype=np.int64)
    for i, p in enumerate(paths):
        try:
            st = os.stat(p)
        except OSError:
            continue
        out[i] = (st.st_size, st.st_mtime_ns)
    return out


def changed_rows(paths: Sequence[str | os.PathLike[str]], recorded: np.ndarray) -> np.ndarray:
    """Rows whose file no longer has the recorded size and mtime (rows recorded as ``-1`` are skipped).

    Shapes: ``recorded`` int64 [N,2]; returns bool [N].
    """
    current = file_stats(paths)
    return (recorded[:, 0] >= 0) & (current != recorded).any(axis=1)


def recorded_stats(manifest) -> np.ndarray | None:
    """The file size and mtime a cache manifest records per row, or None for a cache written before
    they were recorded. Shapes: int64 [N,2]."""
    import pandas as pd

    if not set(STAT_COLUMNS) <= set(manifest.columns):
        return None
    values = manifest[list(STAT_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    return values.fillna(-1).to_numpy(dtype=np.int64).copy()


def check_files_unchanged(cache_dir: str | Path, manifest, paths: Sequence[str | os.PathLike[str]],
                          index_source: str | Path) -> None:
    """Refuse a cache whose image files were replaced since they were decoded (size or mtime differ).

    Args:
        manifest: the cache manifest rows to check (``image_id`` + :data:`STAT_COLUMNS`).
        paths: the image file of each of those rows.
    """
    stats = recorded_stats(manifest)
    if stats is None or len(stats) != len(paths):
        return  # an older cache records no file stats: accepted as it is (docs/reliability.md)
    changed = changed_rows(paths, stats)
    if changed.any():
        first = manifest["image_id"].iloc[int(np.flatnonzero(changed)[0])]
        raise InputError(f"image cache {cache_dir}: {int(changed.sum())} image file(s) changed since they were "
                         f"cached (first: {first}); re-run `agcl prepare {index_source or '<index>'}` (it re-decodes "
                         "only those)")


def cache_fingerprint(cache_dir: str | Path) -> str | None:
    """The index fingerprint a finished image cache was built from (``cache.json``), or None."""
    try:
        info = json.loads((Path(cache_dir) / "cache.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info.get("index_fingerprint") if isinstance(info, dict) else None


def check_cache_matches(cache_dir: str | Path, index_dir: str | Path, fingerprint: str | None = None) -> None:
    """Refuse an image cache that was built from another version of the index (a cache that records no
    fingerprint, e.g. one assembled by hand, is accepted).

    Args:
        fingerprint: the index's current fingerprint when already computed.
    """
    recorded = cache_fingerprint(cache_dir)
    if recorded is not None and recorded != (fingerprint or index_fingerprint(index_dir)):
        raise InputError(f"image cache {cache_dir} was built from another version of the index {index_dir}; "
                         f"re-run `agcl prepare {index_dir}` (and the stages that read it)")


def check_stage_matches(stage_dir: str | Path, fingerprint: str, done_name: str = "DONE",
                        cache: str | None = None) -> None:
    """Refuse stage outputs whose ``DONE`` records another index fingerprint, or (when ``cache`` is given)
    another image-cache content fingerprint; outputs without a record (older agcl) are accepted."""
    done = Path(stage_dir) / done_name
    if not os.path.lexists(done):
        return
    record = read_done_file(done)
    recorded = record.get("index_fingerprint")
    if recorded is not None and recorded != fingerprint:
        raise InputError(f"{stage_dir} was computed from another version of the index; recompute it and the "
                         "stages after it (`agcl run` with a new --run-dir, or --fresh)")
    recorded = record.get("cache_fingerprint")
    if cache is not None and recorded is not None and recorded != cache:
        raise InputError(f"{stage_dir} was computed from another version of the image cache (images changed and "
                         "were re-cached since); recompute it and the stages after it (`agcl run --fresh`)")


def read_done_file(done: Path) -> dict:
    """A stage's ``DONE`` marker as a dict; a damaged one is an InputError saying to re-run the stage."""
    from agcl.paths import read_text

    try:
        record = json.loads(read_text(done, "stage marker"))
    except (InputError, ValueError) as exc:
        raise InputError(f"{done}: unreadable stage marker ({exc}); delete it to re-run the stage") from None
    if not isinstance(record, dict):
        raise InputError(f"{done}: unreadable stage marker (not a JSON object); delete it to re-run the stage")
    return record


def check_run_stages(run_dir: str | Path, fingerprint: str, cache: str | None = None) -> None:
    """:func:`check_stage_matches` for every finished stage of a run directory: each ``stage_*`` folder,
    the per-disease folders of the curriculum stages, and ``eval``."""
    run = Path(run_dir)
    for sdir in sorted([*run.glob("stage_*"), *run.glob("stage_*/*/"), run / "eval"]):
        if sdir.is_dir() and sdir.name not in ("stage_index", "stage_prepare"):
            check_stage_matches(sdir, fingerprint, cache=cache)
