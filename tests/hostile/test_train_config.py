"""``agcl train``: a finished run directory with a changed config is refused (as ``agcl run`` does);
non-finite or out-of-range optimiser values are refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from .clirun import agcl, clean_error


def _finished_run(run: Path, index_dir: Path, lr: str) -> Path:
    from agcl.config import load_config, save_config
    from agcl.pipeline.settings import PipelineConfig

    cfg = load_config(None, [f"data.index_dir={index_dir}", f"optim.lr={lr}"], schema=PipelineConfig)
    save_config(cfg, run / "config.yaml")
    (run / "stage_bsl").mkdir(parents=True)
    (run / "stage_bsl" / "checkpoint.pt").write_bytes(b"finished")  # finished: checkpoint, no last.pt
    return run


@pytest.mark.parametrize("change", ["optim.lr=0.05", "model.backbone=resnet18"])
def test_train_refuses_changed_config_on_finished_run(indexed: Path, tmp_path: Path, change: str) -> None:
    run = _finished_run(tmp_path / "run", indexed, "0.001")
    before = (run / "config.yaml").read_text()
    res = agcl("train", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", change)
    clean_error(res, str(run), change.split("=")[0])
    assert (run / "config.yaml").read_text() == before


def test_train_same_config_on_finished_run_is_a_no_op(indexed: Path, tmp_path: Path) -> None:
    run = _finished_run(tmp_path / "run", indexed, "0.001")
    res = agcl("train", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", "optim.lr=0.001")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("setting", ["optim.lr=nan", "optim.lr=inf", "optim.momentum=5"])
def test_train_refuses_bad_optimiser_values(indexed: Path, tmp_path: Path, setting: str) -> None:
    run = tmp_path / "run"
    res = agcl("train", "--run-dir", run, "--set", f"data.index_dir={indexed}", "--set", setting)
    clean_error(res, setting.split("=")[0])
    assert not (run / "config.yaml").exists() and not (run / "tb").exists()
