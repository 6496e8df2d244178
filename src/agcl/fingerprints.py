"""Fingerprints that chain finished artifacts: index → image cache → stage outputs → evaluation.

Each artifact records the fingerprint of what it was built from; a consumer recomputes the current one
and refuses a mismatch with a one-line error that says what to re-run (see docs/reliability.md).
Plain file hashing on purpose: evaluation and the pipeline use it without importing the data package.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from agcl.errors import InputError

#: Files of an index directory whose bytes define it (index.json adds only counts and the version).
INDEX_FILES: tuple[str, ...] = ("images.csv", "boxes.csv")


def index_fingerprint(index_dir: str | Path) -> str:
    """SHA-1 of ``images.csv``, ``boxes.csv`` and the image root recorded in ``index.json``.

    Re-indexing the same source gives the same fingerprint; any change of rows, labels, sizes, boxes or
    root gives another one.
    """
    d = Path(index_dir)
    h = hashlib.sha1()
    try:
        meta = json.loads((d / "index.json").read_text(encoding="utf-8"))
        for name in INDEX_FILES:
            h.update(name.encode() + b"\0" + (d / name).read_bytes() + b"\0")
    except (OSError, ValueError) as exc:
        raise InputError(f"{d}: cannot read the index ({exc}); re-run `agcl index`") from None
    h.update(str(meta.get("root", "")).encode() if isinstance(meta, dict) else b"")
    return h.hexdigest()


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


def check_stage_matches(stage_dir: str | Path, fingerprint: str, done_name: str = "DONE") -> None:
    """Refuse stage outputs whose ``DONE`` records another index fingerprint (older outputs without a
    record are accepted)."""
    done = Path(stage_dir) / done_name
    if not done.is_file():
        return
    try:
        recorded = json.loads(done.read_text(encoding="utf-8")).get("index_fingerprint")
    except (OSError, ValueError, AttributeError):
        raise InputError(f"{done}: unreadable stage marker; re-run the stage") from None
    if recorded is not None and recorded != fingerprint:
        raise InputError(f"{stage_dir} was computed from another version of the index; recompute it and the "
                         "stages after it (`agcl run` with a new --run-dir)")


def check_run_stages(run_dir: str | Path, fingerprint: str) -> None:
    """:func:`check_stage_matches` for every finished ``stage_*`` folder of a run directory."""
    for sdir in sorted(Path(run_dir).glob("stage_*")):
        check_stage_matches(sdir, fingerprint)
