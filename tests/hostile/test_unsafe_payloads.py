"""Regression guards: a pickle that runs code and a YAML ``!!python`` tag are refused with one line
(never executed)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from .clirun import agcl, clean_error


class _Boom:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_malicious_pickle_checkpoint_is_refused(phantom: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "evil.pt"
    torch.save({"model": _Boom(tmp_path / "pwned")}, ckpt, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    image = next((phantom / "images").glob("*.png"))
    clean_error(agcl("predict", image, "-c", ckpt, "-o", tmp_path / "out", "--device", "cpu"), str(ckpt))
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


def test_yaml_python_tag_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "evil.yaml"
    config.write_text(f"optim: !!python/object/apply:os.mkdir ['{tmp_path / 'pwned'}']\n")
    clean_error(agcl("train", "--config", config, "--run-dir", tmp_path / "run"), str(config))
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "run").exists()
