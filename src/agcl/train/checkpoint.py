"""Checkpoint I/O (docs/dev/CONTRACTS.md "Checkpoints"): dicts of state_dicts, atomic writes, safe loads,
and :func:`load_model`, the network of a checkpoint ready for inference (``agcl predict``, Grad-CAM in
``agcl evaluate``).

Payload: ``{"schema": 1, "kind", "model_spec", "model": state_dict, "labels": list(LABELS), "config":
dict, "stage": str, "epoch": int}`` plus optional ``"optimizer"``, ``"scheduler"``, ``"scaler"``,
``"rng"``, ``"metrics"``, ``"train_state"``. Everything is a tensor or plain Python (no numpy objects,
no modules), so :func:`load_checkpoint` can use ``torch.load(..., weights_only=True)``. Never
``torch.save(model)``.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agcl.errors import InputError
from agcl.io import atomic_path
from agcl.labels import LABELS
from agcl.train.distributed import DistInfo

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
REQUIRED_KEYS: tuple[str, ...] = ("kind", "model_spec", "model", "labels", "config", "stage", "epoch")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare module inside a ``DistributedDataParallel`` / ``torch.compile`` wrapper."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (``schema`` added when missing) atomically: temp file + ``os.replace``.

    Raises:
        ValueError: a required key is missing (a programming error, not a user error).
    """
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    data = {"schema": SCHEMA_VERSION, **payload}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def load_checkpoint(
    path: str | os.PathLike[str],
    expect_kind: str | tuple[str, ...] | None = None,
    *,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load and validate a checkpoint with ``weights_only=True``.

    Args:
        expect_kind: accepted ``kind`` value(s) (``multilabel`` | ``binary`` | ``two_path``); None = any.

    Raises:
        InputError: ``incompatible checkpoint <path>: ...`` for a missing/corrupt file, a foreign
            pickle, a wrong schema version, kind or label list.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"incompatible checkpoint {p}: file not found")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, unsafe pickle → one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"incompatible checkpoint {p}: not a readable agcl checkpoint ({first[:160]})") from None
    if not isinstance(data, dict):
        raise InputError(f"incompatible checkpoint {p}: expected a dict payload, got {type(data).__name__}")
    if data.get("schema") != SCHEMA_VERSION:
        raise InputError(
            f"incompatible checkpoint {p}: schema {data.get('schema')!r}, this agcl reads schema {SCHEMA_VERSION}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise InputError(f"incompatible checkpoint {p}: missing {', '.join(missing)}")
    if expect_kind is not None:
        kinds = (expect_kind,) if isinstance(expect_kind, str) else tuple(expect_kind)
        if data["kind"] not in kinds:
            raise InputError(f"incompatible checkpoint {p}: kind {data['kind']!r}, expected {' or '.join(kinds)}")
    if list(data["labels"]) != list(LABELS):
        raise InputError(f"incompatible checkpoint {p}: label list differs from agcl.labels.LABELS")
    return data


@dataclass
class LoadedModel:
    """A network rebuilt from a checkpoint, in eval mode on its device."""

    model: nn.Module
    spec: dict
    image_size: int
    device: torch.device
    checkpoint: str


def load_model(checkpoint: str | os.PathLike[str], device: str = "auto") -> LoadedModel:
    """Rebuild a 14-label network (``multilabel`` or ``two_path``) from a checkpoint, for inference.

    Raises:
        InputError: unreadable/incompatible checkpoint, or one whose state_dict does not fit its spec.
    """
    from agcl.models import build_model
    from agcl.train.device import resolve_device

    payload = load_checkpoint(checkpoint, expect_kind=("multilabel", "two_path"))
    spec = dict(payload["model_spec"])
    model = build_model(spec, pretrained="none")
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"incompatible checkpoint {checkpoint}: weights do not fit its model_spec ({first})") from None
    dev = resolve_device(device, option="--device")
    model.to(dev).eval()
    log.info("model %s (%s) loaded from %s", spec.get("kind"), spec.get("backbone"), checkpoint)
    return LoadedModel(model, dict(model.spec), int(model.spec["image_size"]), dev, str(checkpoint))


def capture_rng_state() -> dict[str, Any]:
    """Global RNG states as weights_only-safe values: torch CPU (uint8 tensor), CUDA (list of tensors),
    numpy's legacy global MT19937 (plain ints), and Python's ``random`` (tuple of ints)."""
    np_state = np.random.get_state(legacy=False)
    assert isinstance(np_state, dict)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": str(np_state["bit_generator"]),
            "key": [int(x) for x in np_state["state"]["key"]],
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def gather_rng_state(info: DistInfo) -> Any:
    """Every rank's :func:`capture_rng_state` (a collective under torchrun: rank 0 gets the list of all
    ranks' states; one process: its own dict)."""
    state = capture_rng_state()
    if not info.enabled:
        return state
    import torch.distributed as dist

    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, state)
    return out


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].to("cpu", torch.uint8))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": np.asarray(n["key"], dtype=np.uint32), "pos": int(n["pos"])},
            "has_gauss": int(n["has_gauss"]),
            "gauss": float(n["gauss"]),
        }
    )
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.to("cpu", torch.uint8) for s in state["cuda"]])


def model_payload(
    model: nn.Module,
    *,
    stage: str,
    epoch: int,
    config: Mapping[str, Any],
    model_spec: Mapping[str, Any] | None = None,
    kind: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Assemble a contract payload for ``model`` (DDP-unwrapped). ``model_spec`` defaults to
    ``model.spec`` and ``kind`` to ``model_spec["kind"]``."""
    bare = unwrap_model(model)
    spec = dict(model_spec if model_spec is not None else getattr(bare, "spec", {}) or {})
    return {
        "kind": kind or str(spec.get("kind", "unknown")),
        "model_spec": spec,
        "model": {k: v.detach().clone().contiguous() for k, v in bare.state_dict().items()},
        "labels": list(LABELS),
        "config": dict(config),
        "stage": stage,
        "epoch": int(epoch),
        **extra,
    }
