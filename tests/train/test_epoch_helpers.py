"""Inner loops: sample-weighted validation means, loss-dict normalisation."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader
from toy_training import ToyDataset, toy_loss, toy_model

from agcl.train.device import RuntimeEnv
from agcl.train.epoch import evaluate_losses, normalize_losses

ENV = RuntimeEnv(device=torch.device("cpu"))


def test_validation_loss_is_sample_weighted_over_uneven_batches() -> None:
    model, data = toy_model(0), ToyDataset(10, 3)
    got = evaluate_losses(model, toy_loss, DataLoader(data, batch_size=4), ENV)  # batches of 4, 4, 2
    with torch.no_grad():
        whole = toy_loss(model(data.x), {"labels": data.y})
    assert got.keys() == {"loss", "bce", "l2"}
    for k, v in whole.items():
        assert got[k] == pytest.approx(float(v), rel=1e-5)
    assert not model.training


def test_total_is_renamed_to_loss() -> None:
    t = torch.tensor(1.0)
    assert normalize_losses({"total": t, "cls": t}).keys() == {"loss", "cls"}
    assert normalize_losses({"loss": t}) == {"loss": t}
    with pytest.raises(TypeError, match="total under 'loss'"):
        normalize_losses({"cls": t})
