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

from agcl.errors import InputError, load_error
from agcl.io import atomic_path
from agcl.labels import LABELS
from agcl.paths import file_problem
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
    problem = file_problem(p)
    if problem is not None:
        raise InputError(f"incompatible checkpoint {p}: {'file not found' if problem == 'not found' else problem}")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, unsafe pickle → one line for the user
        raise InputError(f"incompatible checkpoint {p}: not a readable agcl checkpoint ({load_error(exc)})") from None
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
    if not isinstance(data["labels"], list | tuple) or list(data["labels"]) != list(LABELS):
        raise InputError(f"incompatible checkpoint {p}: label list differs from agcl.labels.LABELS")
    check_weights(p, data)
    return data


def check_weights(path: Path, data: Mapping[str, Any]) -> None:
    """Refuse a checkpoint whose weights are not all finite tensors: NaN weights would give NaN
    probabilities and empty heatmaps downstream, with exit 0."""
    state = data["model"]
    if not isinstance(state, Mapping):
        raise InputError(f"incompatible checkpoint {path}: 'model' is not a state_dict")
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise InputError(f"incompatible checkpoint {path}: weight {name!r} is not a tensor")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(f"incompatible checkpoint {path}: weight {name!r} holds NaN or infinite values "
                             "(a diverged or damaged model)")


def checked_spec(path: str | os.PathLike[str], data: Mapping[str, Any]) -> dict:
    """The checkpoint's model spec, normalised (:func:`agcl.models.build.normalize_spec`); an invalid one
    (unknown backbone, image size out of range…) is an InputError naming the checkpoint, not its inputs."""
    from agcl.errors import ConfigError
    from agcl.models.build import normalize_spec

    try:
        return normalize_spec(data["model_spec"])
    except ConfigError as exc:
        raise InputError(f"incompatible checkpoint {path}: {exc}") from None


@dataclass
class LoadedModel:
    """A network rebuilt from a checkpoint, in eval mode on its device."""

    model: nn.Module
    spec: dict
    image_size: int
    device: torch.device
    checkpoint: str


def load_model(checkpoint: str | os.PathLike[str], device: str = "auto",
               kinds: tuple[str, ...] = ("multilabel", "two_path")) -> LoadedModel:
    """Rebuild a network from a checkpoint, for inference: by default a 14-label one (``multilabel`` or
    ``two_path``); ``kinds`` names the kinds accepted (e.g. ``("binary",)``).

    Raises:
        InputError: unreadable/incompatible checkpoint (another kind included), or one whose state_dict
            does not fit its spec.
    """
    from agcl.models import build_model
    from agcl.train.device import resolve_device

    payload = load_checkpoint(checkpoint, expect_kind=kinds)
    spec = checked_spec(checkpoint, payload)
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


def check_heatmap_source(loaded: LoadedModel, heatmap: str) -> None:
    """Refuse ``--heatmap regression`` for a network without a regression path (one line naming the checkpoint).

    Raises:
        InputError: ``heatmap == "regression"`` and the checkpoint is not a two-path network.
    """
    if heatmap == "regression" and not hasattr(loaded.model, "regress"):
        raise InputError(f"--heatmap regression needs a two-path checkpoint (AGL / AGCL-k); {loaded.checkpoint} "
                         f"is a {loaded.spec.get('kind')} network without a regression path")


def predict_batch(loaded: LoadedModel, pixels: np.ndarray, heatmap: str = "cam") -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and heatmaps for a batch of resized grey images.

    ``heatmap``: ``cam`` (exact CAM, Eq. 1), ``gradcam`` / ``gradcampp`` (:mod:`agcl.cam.gradcam`) or
    ``regression`` (a two-path network's regressed Ĥ, :func:`agcl.models.forward_with_regression`); all
    in the image frame.

    Shapes: pixels ``[B, S, S]`` uint8 -> probs ``[B, 14]`` float32 in [0,1], cams ``[B, 14, h, w]``
    float32 (raw CAM resampled into the image frame: cell (i,j) is centred on the centre of its area of
    the S×S image, see :mod:`agcl.cam.align`).
    """
    from agcl.models import forward_with_cams, forward_with_regression

    x = torch.from_numpy(np.ascontiguousarray(pixels)).to(loaded.device).float().div_(255.0)[:, None]
    if heatmap == "cam":
        probs, cams = forward_with_cams(loaded.model, x, frame="image")
    elif heatmap == "regression":
        check_heatmap_source(loaded, heatmap)
        probs, cams = forward_with_regression(loaded.model, x, frame="image")
    else:
        from agcl.cam.gradcam import gradient_cams

        probs, cams = gradient_cams(loaded.model, x, heatmap)
    return probs.cpu().numpy(), cams.cpu().numpy()


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
