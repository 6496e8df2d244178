"""``agcl prepare``: decode and resize every indexed image once into a uint8 memmap cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors

log = logging.getLogger(__name__)
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


@user_errors
def prepare(
    index_dir: Annotated[Path, typer.Argument(help="Index directory written by `agcl index`.")],
    size: Annotated[int, typer.Option(help="Side S of the square cached images (pixels).")] = 256,
    out: Annotated[Path | None, typer.Option(help="Cache directory (default: INDEX_DIR/cache_<size>).")] = None,
    workers: Annotated[int, typer.Option(help="Decoding processes (1 = in-process).")] = DEFAULT_WORKERS,
    skip_bad: Annotated[bool, typer.Option(help="Log undecodable images and store zeros instead of stopping.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Decode every image again, even those whose file size "
                                          "and time did not change (default: off).")] = False,
) -> None:
    """Build (or resume) the resized image cache of an index (re-running resumes a killed run and re-decodes
    images whose file changed since they were cached)."""
    from agcl.config.ranges import IMAGE_SIZE, WORKERS, check
    from agcl.data.cache import prepare_cache

    check("--size", size, IMAGE_SIZE)
    check("--workers", workers, WORKERS)
    path = prepare_cache(index_dir, size=size, out=out, workers=workers, skip_bad=skip_bad, rebuild=rebuild)
    log.info("image cache ready: %s", path)


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare)
