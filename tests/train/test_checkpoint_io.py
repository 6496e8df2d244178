"""Checkpoint contract: atomic save, weights_only load, clear errors for incompatible files, RNG state."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from toy_training import toy_model

from agcl.errors import InputError
from agcl.labels import LABELS
from agcl.train.checkpoint import (
    SCHEMA_VERSION,
    capture_rng_state,
    load_checkpoint,
    model_payload,
    restore_rng_state,
    save_checkpoint,
)


def _payload(**extra):
    return model_payload(toy_model(0), stage="bsl", epoch=3, config={"optim": {"lr": 0.001}}, **extra)


def test_round_trip_with_weights_only(tmp_path) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, _payload(metrics={"history": [{"loss": 0.5}]}, rng=capture_rng_state()))
    data = load_checkpoint(path, expect_kind="multilabel")
    assert data["schema"] == SCHEMA_VERSION and data["labels"] == list(LABELS) and data["epoch"] == 3
    assert data["model_spec"]["kind"] == "multilabel" and data["config"]["optim"]["lr"] == 0.001
    fresh = toy_model(1)
    fresh.load_state_dict(data["model"])
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), toy_model(0).state_dict().values(), strict=True))
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_payload_is_a_copy_not_a_view() -> None:
    model = toy_model(0)
    payload = model_payload(model, stage="s", epoch=0, config={})
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert not torch.equal(payload["model"]["0.weight"], model.state_dict()["0.weight"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema=99), "schema 99"),
        (lambda d: d.update(labels=list(LABELS)[::-1]), "label list differs"),
        (lambda d: d.pop("model_spec"), "missing model_spec"),
    ],
)
def test_incompatible_payloads_raise_input_error(tmp_path, mutate, message) -> None:
    data = {"schema": SCHEMA_VERSION, **_payload()}
    mutate(data)
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(InputError, match=rf"^incompatible checkpoint {tmp_path / 'bad.pt'}: .*{message}"):
        load_checkpoint(tmp_path / "bad.pt")


def test_wrong_kind_corrupt_foreign_and_missing_files(tmp_path) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(good, _payload())
    with pytest.raises(InputError, match="kind 'multilabel', expected two_path"):
        load_checkpoint(good, expect_kind="two_path")
    assert load_checkpoint(good, expect_kind=("binary", "multilabel"))["stage"] == "bsl"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="not a readable agcl checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"x": __import__("collections").OrderedDict, "y": print}, foreign)  # globals weights_only refuses
    with pytest.raises(InputError, match="incompatible checkpoint .*not a readable agcl checkpoint"):
        load_checkpoint(foreign)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(InputError, match="expected a dict payload"):
        load_checkpoint(tmp_path / "list.pt")
    with pytest.raises(InputError, match="file not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="lacks"):
        save_checkpoint(tmp_path / "x.pt", {"model": {}})


def test_rng_state_survives_a_weights_only_round_trip(tmp_path) -> None:
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_checkpoint(tmp_path / "rng.pt", _payload(rng=capture_rng_state()))
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]
