"""Inputs of ``agcl predict``: find image files, decode and resize each one, failing one file at a time.

Folders are scanned recursively for PNG, JPEG and DICOM files (by extension, sorted). Files named
explicitly are always tried, whatever their extension: a non-image gives a clear per-file error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from agcl.errors import AgclError, InputError

#: Extensions picked up when scanning folders (case-insensitive).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")


@dataclass(frozen=True)
class Failure:
    """A rejected input: the path as given and a one-line reason."""

    image: str
    error: str


@dataclass(frozen=True)
class LoadedImage:
    """One decoded input.

    Attributes:
        image: the path as the user gave it (or as found in a named folder).
        original: decoded grey pixels at the file's own size (kept only when overlays are drawn).
        resized: the network input, resized exactly as the image cache does.
        width, height: original size in pixels (the frame of the output boxes).

    Shapes: original ``[H, W]`` uint8; resized ``[S, S]`` uint8.
    """

    image: str
    original: np.ndarray | None
    resized: np.ndarray
    width: int
    height: int


def scan_inputs(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Failure]]:
    """Expand files and folders into a list of files; missing paths become failures.

    Returns:
        ``(files, failures)``; files keep the order given, folder contents sorted, no duplicates.
    """
    files: list[Path] = []
    failures: list[Failure] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                failures.append(Failure(str(path), f"no PNG/JPEG/DICOM files in folder {path}"))
        elif path.is_file():
            found = [path]
        else:
            from agcl.paths import file_problem

            problem = file_problem(path)
            reason = "no such file or folder" if problem in (None, "not found") else problem
            failures.append(Failure(str(path), f"{path}: {reason}"))
            continue
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                files.append(p)
    return files, failures


def load_image(path: Path, size: int, *, keep_original: bool = False) -> LoadedImage:
    """Decode one file (PNG/JPEG/DICOM → uint8 grey) and resize it to ``size``² like the cache.

    Raises:
        InputError: naming the file, for anything unreadable.
    """
    from agcl.data.images import read_image, read_image_resized

    try:
        # the cache's own decode+resize, so the network sees exactly what it saw in training
        resized, (width, height) = read_image_resized(path, size)
        original = read_image(path) if keep_original else None
    except AgclError:
        raise
    except Exception as exc:  # a decoder failing in an unforeseen way is still one file's problem
        raise InputError(f"cannot decode image {path} ({type(exc).__name__}: {exc})") from None
    return LoadedImage(str(path), original, resized, int(width), int(height))


class DecodeDataset(Dataset):
    """Files as a map-style dataset: item ``i`` is a :class:`LoadedImage` or a :class:`Failure`."""

    def __init__(self, files: Sequence[Path], size: int, *, keep_original: bool = False) -> None:
        self.files, self.size, self.keep_original = list(files), size, keep_original

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> LoadedImage | Failure:
        try:
            return load_image(self.files[i], self.size, keep_original=self.keep_original)
        except AgclError as exc:
            return Failure(str(self.files[i]), str(exc))


def _as_list(items: list) -> list:
    return items


def iter_loaded(files: Iterable[Path], size: int, *, keep_original: bool = False, batch_size: int = 1,
                workers: int = 0) -> Iterator[list[LoadedImage | Failure]]:
    """Yield lists of up to ``batch_size`` decoded files (a :class:`LoadedImage` or a :class:`Failure`
    each), in order. With ``workers > 0``, ``workers`` DataLoader processes decode ahead of the caller."""
    ds = DecodeDataset(list(files), size, keep_original=keep_original)
    yield from DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_as_list,
                          prefetch_factor=4 if workers else None, persistent_workers=False)
