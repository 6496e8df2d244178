"""Fixtures of the hostile-input tests: a small phantom in NIH layout, its index and a 32-px cache."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from .clirun import immutable

N, SIZE, CACHE = 60, 64, 32


@pytest.fixture(autouse=True)
def _agcl_logs_reach_caplog():
    """The CLI's console logging stops ``agcl`` records at its own handler (``propagate = False``) once any
    command has set it up in this process; let them reach pytest's ``caplog`` whatever ran before."""
    from agcl.logs import setup_console_logging

    setup_console_logging()
    logger = logging.getLogger("agcl")
    before = logger.propagate
    logger.propagate = True
    yield
    logger.propagate = before


@pytest.fixture(scope="session")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 phantom images of 64 px (read-only: copy before changing it)."""
    from agcl.data.phantom import synthesize

    out = tmp_path_factory.mktemp("hostile") / "phantom"
    synthesize(out, n=N, size=SIZE, seed=0)
    return out


@pytest.fixture()
def phantom_copy(phantom: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "src"
    shutil.copytree(phantom, dst)
    return dst


@pytest.fixture(scope="session")
def indexed(phantom: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the phantom with a complete 32-px cache (read-only)."""
    from agcl.data.cache import prepare_cache
    from agcl.data.index import save_index
    from agcl.data.nih import build_nih_index

    out = tmp_path_factory.mktemp("hostile") / "index"
    save_index(out, *build_nih_index(phantom))
    prepare_cache(out, size=CACHE, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def checkpoint(make_checkpoint) -> Path:
    """A tiny multi-label checkpoint (32 px input) for ``agcl predict``."""
    return make_checkpoint(32)


@pytest.fixture()
def locked(tmp_path: Path):
    """An existing, empty folder nobody (root included) may write into; unlocked after the test."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if not immutable(folder, True):
        pytest.skip("chattr +i is not available here (needs root and a filesystem with the immutable flag)")
    yield folder
    immutable(folder, False)
