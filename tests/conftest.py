"""Shared test fixtures. Tests are CPU-only, deterministic and never download anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Two xdist workers share two cores: one intra-op thread each keeps timings stable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("AGCL_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AGCL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def nih_dir(shared_data: Path) -> Path:
    path = shared_data / "nih-cxr14"
    if not (path / "Data_Entry_2017_v2020.csv").is_file():
        pytest.skip(f"NIH metadata not available at {path}")
    return path


@pytest.fixture(scope="session")
def nih_mini_dir(shared_data: Path) -> Path:
    path = shared_data / "nih-cxr14-mini"
    if not (path / "mini_split.csv").is_file():
        pytest.skip(f"nih-cxr14-mini not available at {path}")
    return path


@pytest.fixture(scope="session")
def openi_reports(shared_data: Path) -> Path:
    path = shared_data / "reports" / "NLMCXR_reports.tgz"
    if not path.is_file():
        pytest.skip(f"OpenI reports not available at {path}")
    return path


@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small phantom dataset in NIH layout (shared by the tests of one worker; treat as read-only)."""
    from agcl.data.phantom import synthesize

    out = tmp_path_factory.mktemp("phantom") / "phantom"
    synthesize(out, n=160, size=64, seed=0)
    return out


@pytest.fixture(scope="session")
def make_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """``make_checkpoint(size) -> Path`` of a contract multilabel checkpoint (the tiny backbone, seeded random
    init) with input side ``size``."""
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    def make(size: int) -> Path:
        model = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": size}, seed=0)
        path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
        save_checkpoint(path, model_payload(model, stage="bsl", epoch=0, config={}))
        return path

    return make
