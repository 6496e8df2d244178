"""Checkpoints for the predict tests: the tiny backbone, seeded random init, at a given input size."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def make_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """``make_checkpoint(size) -> Path`` of a contract multilabel checkpoint with input side ``size``."""
    from agcl.models import build_model
    from agcl.train.checkpoint import model_payload, save_checkpoint

    def make(size: int) -> Path:
        model = build_model({"kind": "multilabel", "backbone": "tiny", "image_size": size}, seed=0)
        path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
        save_checkpoint(path, model_payload(model, stage="bsl", epoch=0, config={}))
        return path

    return make
