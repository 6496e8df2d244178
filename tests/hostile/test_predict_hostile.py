"""``agcl predict``: every input rejected -> exit 2; a reused output folder loses the previous overlays;
the log does not claim a random init while loading a checkpoint; ``--device cuda`` without a GPU."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from .clirun import agcl, clean_error


def test_predict_every_input_rejected_exits_2(checkpoint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    res = agcl("predict", bad, "-c", checkpoint, "-o", tmp_path / "out", "--device", "cpu", "--no-progress")
    clean_error(res, "failures.csv")


def test_predict_reused_folder_drops_previous_overlays(phantom: Path, checkpoint: Path, tmp_path: Path) -> None:
    first, second = sorted((phantom / "images").glob("*.png"))[:2]
    out = tmp_path / "out"
    common = ("-c", checkpoint, "-o", out, "--device", "cpu", "--no-progress", "--box-threshold", "0")
    assert agcl("predict", first, *common, "--overlays").exit_code == 0
    assert any(p.name.startswith(first.stem) for p in (out / "overlays").iterdir())
    assert agcl("predict", second, *common, "--overlays").exit_code == 0
    names = [p.name for p in (out / "overlays").iterdir()]
    assert names and all(n.startswith(second.stem) for n in names)
    assert agcl("predict", second, *common).exit_code == 0  # no --overlays: none of the old ones stay
    assert not (out / "overlays").exists()


def test_predict_does_not_log_random_init(phantom: Path, checkpoint: Path, tmp_path: Path, caplog) -> None:
    image = next((phantom / "images").glob("*.png"))
    with caplog.at_level(logging.DEBUG, logger="agcl"):
        res = agcl("predict", image, "-c", checkpoint, "-o", tmp_path / "out", "--device", "cpu", "--no-progress")
    assert res.exit_code == 0, res.output
    infos = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not any("random init" in m for m in infos)
    assert any(str(checkpoint) in m for m in infos)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_predict_device_cuda_without_gpu_names_the_flag(phantom: Path, checkpoint: Path, tmp_path: Path) -> None:
    image = next((phantom / "images").glob("*.png"))
    msg = clean_error(agcl("predict", image, "-c", checkpoint, "-o", tmp_path / "out", "--device", "cuda"),
                      "--device cpu")
    assert "runtime.device" not in msg and not (tmp_path / "out").exists()
