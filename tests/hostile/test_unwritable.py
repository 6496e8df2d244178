"""An output folder nobody may write into (``chattr +i``; root ignores chmod): one line naming the
path, exit 2, no traceback - in index, prepare, predict, mine and report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from .clirun import agcl, clean_error, immutable


def test_index_into_unwritable_folder(phantom: Path, locked: Path) -> None:
    clean_error(agcl("index", phantom, "--out", locked), str(locked))
    clean_error(agcl("index", phantom, "--out", locked / "sub"), str(locked / "sub"))
    assert not any(locked.iterdir())


def test_prepare_into_unwritable_folder(indexed: Path, locked: Path) -> None:
    clean_error(agcl("prepare", indexed, "--size", 16, "--workers", 1, "--out", locked), str(locked))
    clean_error(agcl("prepare", indexed, "--size", 16, "--workers", 1, "--out", locked / "c"), str(locked / "c"))
    assert not any(locked.iterdir())


def test_mine_into_unwritable_folder(tmp_path: Path, locked: Path) -> None:
    reports = tmp_path / "reports.csv"
    with open(reports, "w", newline="") as fh:
        csv.writer(fh).writerows([["id", "report"], ["r1", "Small left pleural effusion."]])
    clean_error(agcl("mine", reports, "--out", locked / "severity.csv"), str(locked / "severity.csv"))
    assert not any(locked.iterdir())


def test_predict_into_unwritable_folder(phantom: Path, tmp_path: Path, locked: Path) -> None:
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, model_payload(build_model({"kind": "multilabel", "backbone": "tiny", "image_size": 32},
                                                    seed=0), stage="bsl", epoch=0, config={}))
    image = next((phantom / "images").glob("*.png"))
    res = agcl("predict", image, "-c", ckpt, "-o", locked / "out", "--device", "cpu", "--no-progress")
    clean_error(res, str(locked / "out"))
    assert not any(locked.iterdir())


def test_report_into_unwritable_eval_folder(indexed: Path, tmp_path: Path) -> None:
    from agcl.config import load_config, save_config
    from agcl.pipeline.settings import PipelineConfig

    run = tmp_path / "run"
    save_config(load_config(None, [f"data.index_dir={indexed}"], schema=PipelineConfig), run / "config.yaml")
    (run / "eval").mkdir()
    if not immutable(run / "eval", True):
        pytest.skip("chattr +i is not available here")
    try:
        clean_error(agcl("report", run), str(run / "eval"))
        assert not any((run / "eval").iterdir())
    finally:
        immutable(run / "eval", False)
