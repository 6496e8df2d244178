"""Resized uint8 image cache (``agcl prepare``): decode each image once, read it as a memmap ever after.

Files in ``CACHE_DIR`` (default ``INDEX_DIR/cache_<size>``):
``images.u8`` (raw uint8 ``[N,S,S]``, row order = ``images.csv``), ``manifest.csv``
(``row, image_id, width, height, ok``), ``cache.json`` (``complete: true`` written last) and, while
building, ``progress.npz`` (done-mask and source sizes, saved atomically so a killed run resumes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agcl.config.ranges import IMAGE_SIZE, check
from agcl.data.images import decode_task
from agcl.data.index import Index, load_index
from agcl.errors import ConfigError, InputError, one_line
from agcl.fingerprints import STAT_COLUMNS, check_files_unchanged, file_stats, recorded_stats
from agcl.io import write_json_atomic, write_with_atomic
from agcl.paths import check_apart, file_problem, read_text, real_folder, regular_file

log = logging.getLogger(__name__)

RESIZE_FILTER = "PIL.Image.Resampling.LANCZOS (antialiased Lanczos-3, 8-bit)"
CACHE_SCHEMA = 1
# progress.npz state per row
PENDING, DONE, BAD = 0, 1, 2


def default_cache_dir(index_dir: str | Path, size: int) -> Path:
    """``INDEX_DIR/cache_<size>``."""
    return Path(index_dir) / f"cache_{int(size)}"


def read_cache_info(cache_dir: Path) -> dict[str, Any] | None:
    """``cache.json`` as a dict (None when there is none); a damaged one is an InputError saying what to do."""
    path = Path(cache_dir) / "cache.json"
    if not os.path.lexists(path):
        return None
    try:
        info = json.loads(read_text(path, "cache file"))
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        int(info["n"]), check("cache.json size", info["size"], IMAGE_SIZE)
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise InputError(f"{path}: not a valid cache.json ({exc}); rebuild it with `agcl prepare --rebuild`") from None
    return info


def read_manifest(cache_dir: Path) -> pd.DataFrame:
    """``manifest.csv`` (``row, image_id, width, height, ok`` [+ file_size, file_mtime_ns]), checked."""
    path = Path(cache_dir) / "manifest.csv"
    if not os.path.lexists(path):
        raise InputError(f"image cache {cache_dir} has no manifest.csv; rebuild it with `agcl prepare --rebuild`")
    regular_file(path, "cache manifest")
    try:
        manifest = pd.read_csv(path, dtype={"image_id": str})
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: unreadable ({one_line(str(exc), 200)}); rebuild the cache with "
                         "`agcl prepare --rebuild`") from None
    need = ["image_id", "width", "height"]
    if any(c not in manifest.columns for c in need) or not manifest[["width", "height"]].apply(
            pd.to_numeric, errors="coerce").notna().all().all():
        raise InputError(f"{path}: damaged (needs numeric {', '.join(need)}); rebuild the cache with "
                         "`agcl prepare --rebuild`")
    if "ok" not in manifest.columns:
        manifest["ok"] = 1
    return manifest


def index_paths(index: Index) -> list[Path]:
    """Absolute image paths of an index in row order (the files the cache decoded)."""
    root = Path(index.root)
    return [root / p for p in index.images["path"].astype(str)]


def rows_fingerprint(images: pd.DataFrame, root: Path) -> str:
    """SHA-1 of root, image ids and paths: the fingerprint of an in-memory index that has no directory."""
    h = hashlib.sha1(str(root).encode())
    for name in ("image_id", "path"):
        h.update("\n".join(images[name].astype(str)).encode())
    return h.hexdigest()


def fingerprint_of(index: Index) -> str:
    """What a cache records as the index it was built from: the index directory's fingerprint
    (:func:`agcl.fingerprints.index_fingerprint`), or :func:`rows_fingerprint` for an in-memory index."""
    return index.fingerprint or rows_fingerprint(index.images, index.root)


class ImageCache:
    """Read access to a complete cache. Picklable: each process opens its own read-only memmap.

    Attributes:
        size: side S of the cached square images.
        image_ids: ids in row order.
    """

    def __init__(self, cache_dir: Path, info: dict[str, Any], manifest: pd.DataFrame) -> None:
        self.cache_dir = Path(cache_dir)
        self.info = info
        self.size = int(info["size"])
        self.n = int(info["n"])
        self.manifest = manifest
        self.image_ids: list[str] = manifest["image_id"].tolist()
        self._rows = {iid: i for i, iid in enumerate(self.image_ids)}
        self._wh = manifest[["width", "height"]].to_numpy(dtype=np.int64)
        self._data: np.memmap | None = None

    @classmethod
    def open(cls, cache_dir: str | Path, expect_size: int | None = None,
             expect_index: Index | None = None) -> ImageCache:
        """Open a cache written by ``agcl prepare``; refuses an incomplete or inconsistent one.

        Args:
            expect_size: when given, refuse a cache whose side S differs (e.g. ``data.image_size``).
            expect_index: when given, refuse a cache built from another version of this index.
        """
        d = Path(cache_dir)
        info = read_cache_info(d)
        if info is None:
            raise InputError(f"{d} is not an image cache (no cache.json); build it with `agcl prepare`")
        if not info.get("complete"):
            raise InputError(f"image cache {d} is incomplete ({info.get('done', '?')}/{info.get('n', '?')} images); "
                             "re-run `agcl prepare` to resume it")
        manifest = read_manifest(d)
        expected = int(info["n"]) * int(info["size"]) ** 2
        data = d / "images.u8"
        if len(manifest) != int(info["n"]) or file_problem(data) or data.stat().st_size != expected:
            raise InputError(f"image cache {d} is inconsistent (manifest/images.u8 size); rebuild it with "
                             "`agcl prepare --rebuild`")
        if expect_size is not None and int(info["size"]) != int(expect_size):
            raise InputError(f"image cache {d} has size {info['size']} but data.image_size={expect_size}; "
                             "prepare a cache of that size or change the setting")
        if expect_index is not None:
            if info.get("index_fingerprint") != fingerprint_of(expect_index):
                raise InputError(f"image cache {d} was built from another version of the index at "
                                 f"{expect_index.source}; re-run `agcl prepare` on that index")
            check_files_unchanged(d, manifest, index_paths(expect_index), expect_index.source)
        return cls(d, info, manifest)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_data"] = None  # never pickle the mapped pages into DataLoader workers
        return state

    def __len__(self) -> int:
        return self.n

    @property
    def data(self) -> np.memmap:
        """The whole cache as a read-only memmap. Shapes: ``[N, S, S]`` uint8."""
        if self._data is None:
            self._data = np.memmap(self.cache_dir / "images.u8", dtype=np.uint8, mode="r",
                                   shape=(self.n, self.size, self.size))
        return self._data

    def get(self, row: int) -> np.ndarray:
        """One cached image (a read-only view). Shapes: ``[S, S]`` uint8."""
        return self.data[row]

    def row_of(self, image_id: str) -> int:
        """Row of an image id (= its row in ``images.csv``)."""
        try:
            return self._rows[image_id]
        except KeyError:
            raise InputError(f"image {image_id!r} is not in the cache {self.cache_dir}") from None

    def source_size(self, image_id: str) -> tuple[int, int]:
        """``(width, height)`` of the decoded source file: the frame of the boxes."""
        w, h = self._wh[self.row_of(image_id)]
        return int(w), int(h)

    @property
    def bad_ids(self) -> list[str]:
        """Images that could not be decoded (only with ``--skip-bad``); their cache rows are zeros."""
        return self.manifest.loc[self.manifest["ok"] == 0, "image_id"].tolist()


def _save_progress(path: Path, state: np.ndarray, sizes: np.ndarray, stats: np.ndarray) -> None:
    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, state=state, sizes=sizes, stats=stats)

    write_with_atomic(path, write)


def _load_progress(path: Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(state, sizes, stats)`` of a killed run, or None when ``progress.npz`` is missing or damaged."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            state, sizes = z["state"].copy(), z["sizes"].copy()
            stats = z["stats"].copy() if "stats" in z.files else np.full((n, 2), -1, np.int64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("%s is damaged (%s); starting the cache over", path, exc)
        return None
    if state.shape != (n,) or sizes.shape != (n, 2) or stats.shape != (n, 2):
        log.warning("%s does not fit this cache; starting it over", path)
        return None
    return state, sizes, stats


def _iter_results(tasks: list[tuple[int, str, int]], workers: int):
    if workers <= 1:
        yield from map(decode_task, tasks)
        return
    from agcl.workers import spawn_pool

    pool = spawn_pool(workers)
    try:
        yield from pool.map(decode_task, tasks, chunksize=16)
    finally:  # on an error or Ctrl-C, drop the queued work instead of finishing it
        pool.shutdown(wait=True, cancel_futures=True)


def prepare_cache(index: Index | str | Path, size: int = 256, out: str | Path | None = None,
                  workers: int | None = None, skip_bad: bool = False, save_every_s: float = 5.0,
                  progress: bool = True, rebuild: bool = False) -> Path:
    """Build (or resume, or bring up to date) the resized cache of an index. Returns the cache directory.

    Each row records its file's size and mtime; a later call re-decodes only the rows whose file changed
    since, and ``rebuild`` re-decodes every row. The cache folder is locked while this runs
    (:mod:`agcl.runlock`).

    Raises:
        InputError: a bad image without ``skip_bad`` (the partial cache stays resumable), or an
            output folder that holds something other than an agcl cache.
    """
    from agcl.runlock import LOCK_NAME, folder_lock

    if not isinstance(index, Index):
        index_dir = Path(index)
        index = load_index(index_dir)
    else:
        index_dir = None
    check("--size", size, IMAGE_SIZE)
    if out is None:
        if index_dir is None:
            raise InputError("prepare_cache needs `out` when given an Index object")
        out = default_cache_dir(index_dir, size)
    out = real_folder(Path(out), "cache folder")
    if not os.path.lexists(out / "cache.json") and out.is_dir() and any(e.name != LOCK_NAME for e in out.iterdir()):
        raise InputError(f"{out} exists and is not an agcl image cache; choose another --out")
    if index_dir is not None:
        check_apart([("--out", out / name) for name in CACHE_FILES],
                    [("index", index_dir / name) for name in ("images.csv", "boxes.csv", "index.json")])
    with folder_lock(out):
        return _prepare_locked(index, size, out, workers, skip_bad, save_every_s, progress, rebuild)


#: Files of a cache folder.
CACHE_FILES = ("images.u8", "manifest.csv", "cache.json", "progress.npz")


def _prepare_locked(index: Index, size: int, out: Path, workers: int | None, skip_bad: bool,
                    save_every_s: float, progress: bool, rebuild: bool) -> Path:
    import time

    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    n = len(index.images)
    fp = fingerprint_of(index)
    info_path, data_path, prog_path = out / "cache.json", out / "images.u8", out / "progress.npz"
    info = {"schema": CACHE_SCHEMA, "size": size, "n": n, "filter": RESIZE_FILTER, "dtype": "uint8",
            "layout": "[N, S, S] row-major, rows = images.csv order", "index_fingerprint": fp,
            "index_root": str(index.root), "complete": False}
    paths = index_paths(index)
    stats = file_stats(paths)  # before decoding: a file that changes meanwhile differs at the next check
    state, sizes, old_stats = np.zeros(n, np.uint8), np.zeros((n, 2), np.int32), np.full((n, 2), -1, np.int64)
    try:
        old = read_cache_info(out) or {}
    except InputError as exc:
        log.warning("%s; rebuilding it", exc)
        old = {}
    same = bool(old) and all(old.get(k) == info[k] for k in ("size", "n", "index_fingerprint"))
    intact = data_path.is_file() and data_path.stat().st_size == n * size * size
    if same and old.get("complete") and intact and not rebuild:
        try:
            manifest = read_manifest(out)
        except InputError:
            manifest = None
        if manifest is not None and len(manifest) == n:
            state = np.where(manifest["ok"].to_numpy() == 1, DONE, BAD).astype(np.uint8)
            sizes = manifest[["width", "height"]].to_numpy(dtype=np.int32).copy()
            recorded = recorded_stats(manifest)
            if recorded is None:  # a cache of an older agcl: adopt the files as they are now
                log.warning("cache %s records no file sizes/times (older agcl); recording them now — run "
                            "`agcl prepare --rebuild` if images changed since it was built", out)
                old_stats = stats.copy()
            else:
                old_stats = recorded
            changed = (old_stats != stats).any(axis=1)  # a bad image whose file changed is retried too
            if not changed.any() and recorded is not None:
                log.info("cache %s is complete; nothing to do", out)
                return out
            if changed.any():
                log.info("cache %s: %d image file(s) changed since they were cached; re-decoding them",
                         out, int(changed.sum()))
                state[changed] = PENDING
    elif same and intact and not rebuild:
        resumed = _load_progress(prog_path, n)
        if resumed is not None:
            state, sizes, old_stats = resumed
            state[state == BAD] = PENDING  # retry bad images on resume
            state[(state == DONE) & (old_stats != stats).any(axis=1)] = PENDING  # changed while killed
            log.info("resuming cache %s: %d/%d images already done", out, int((state == DONE).sum()), n)
    elif old and not rebuild:
        log.warning("cache %s was built for another index or size, or is damaged; rebuilding it", out)
    if rebuild:
        log.info("rebuilding cache %s: decoding all %d images", out, n)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(info_path, info)
    mode = "r+" if (state != PENDING).any() and intact else "w+"
    if mode == "w+":
        state[:] = PENDING
    data = np.memmap(data_path, dtype=np.uint8, mode=mode, shape=(n, size, size))
    todo = np.flatnonzero(state == PENDING)
    old_stats[todo] = stats[todo]
    tasks = [(int(r), str(paths[r]), size) for r in todo]
    last = time.monotonic()

    def checkpoint() -> None:
        data.flush()
        _save_progress(prog_path, state, sizes, old_stats)
        write_json_atomic(info_path, {**info, "done": int((state == DONE).sum())})

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("prepare {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, disable=not progress, transient=False) as bar:
            job = bar.add_task(f"{size}px", total=n, completed=n - len(todo))
            for row, pixels, w, h, err in _iter_results(tasks, workers):
                if pixels is None:
                    if not skip_bad:
                        raise InputError(f"{err} (row {row}; the partial cache in {out} resumes on re-run, "
                                         "or pass --skip-bad)")
                    log.warning("skipping bad image: %s", err)
                    data[row] = 0
                    state[row] = BAD
                else:
                    data[row] = pixels
                    sizes[row] = (w, h)
                    state[row] = DONE
                bar.advance(job)
                if time.monotonic() - last > save_every_s:
                    checkpoint()
                    last = time.monotonic()
    finally:
        checkpoint()  # flushes the memmap, then records which rows are done (atomic)
    manifest = pd.DataFrame({"row": np.arange(n), "image_id": index.images["image_id"].to_numpy(),
                             "width": sizes[:, 0], "height": sizes[:, 1], "ok": (state == DONE).astype(int),
                             STAT_COLUMNS[0]: old_stats[:, 0], STAT_COLUMNS[1]: old_stats[:, 1]})
    write_with_atomic(out / "manifest.csv", lambda p: manifest.to_csv(p, index=False))
    n_bad = int((state == BAD).sum())
    content = hashlib.sha1((out / "manifest.csv").read_bytes()).hexdigest()
    write_json_atomic(info_path, {**info, "complete": True, "done": int((state == DONE).sum()), "bad": n_bad,
                                  "bad_ids": manifest.loc[manifest["ok"] == 0, "image_id"].tolist()[:1000],
                                  "content_fingerprint": content})
    prog_path.unlink(missing_ok=True)
    if n_bad:
        log.warning("%d image(s) could not be decoded and are zeros in the cache (see cache.json bad_ids)", n_bad)
    return out
