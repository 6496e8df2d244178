"""Device, AMP, channels_last and determinism: resolve a :class:`RuntimeConfig` into a :class:`RuntimeEnv`.

One code path for CPU and CUDA (docs/training.md): the loop always enters
``torch.autocast(device_type, dtype, enabled=...)`` and a ``GradScaler`` is only active for fp16.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass, field

import numpy as np
import torch

from agcl.config.schema import RuntimeConfig
from agcl.errors import ConfigError
from agcl.train.distributed import DistInfo, init_distributed

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

#: ``runtime.channels_last: auto`` on CPU, per backbone: on only where agcl's own training step was
#: measured faster with it (``benchmarks/bench_step.py --channels-last-ab``, 128 px, batch 32, fp32;
#: figures in docs/benchmarks.md). Backbones not listed stay off on CPU; CUDA is always on.
CPU_CHANNELS_LAST: dict[str, bool] = {
    "tiny": False,  # 1.01× (noise); contiguous keeps the demo's numbers
    "resnet18": True,  # 1.04× under load, 1.22× on an idle box (91.5 vs 74.9 img/s)
    "resnet50": True,  # 1.16× under load
    "efficientnet_lite0": True,  # 1.44× on an idle box (34.9 vs 24.2 img/s; depthwise convs gain most)
}


@dataclass(frozen=True)
class RuntimeEnv:
    """The resolved runtime of one process.

    Attributes:
        device: where the model and batches live (``cuda:<local_rank>`` under torchrun).
        amp_dtype: autocast dtype, or None for full fp32.
        channels_last: convert the model and image batches to ``torch.channels_last``.
        dist: rank / world size (``world_size == 1`` → no DDP).
        amp_name: ``none`` | ``bf16`` | ``fp16`` (for logs and configs).
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    dist: DistInfo = field(default_factory=DistInfo)
    amp_name: str = "none"

    @property
    def use_scaler(self) -> bool:
        """GradScaler only for fp16 (bf16 has fp32's exponent range)."""
        return self.amp_dtype is torch.float16

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """``torch.autocast`` for this device; disabled (a no-op) when ``amp_dtype`` is None."""
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.bfloat16, enabled=self.amp_dtype is not None
        )

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler that is enabled only for fp16."""
        return torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's legacy global RNG and ``random`` (done by the training loop at the start of a fit)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def resolve_device(name: str, local_rank: int = 0, option: str = "runtime.device") -> torch.device:
    """``auto`` → CUDA when available else CPU; ``cuda`` without a GPU is a ConfigError.

    Args:
        option: how the user set it, for the message (``runtime.device`` or a CLI flag like ``--device``).
    """
    sep = " " if option.startswith("--") else "="
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{option}{sep}cuda but no CUDA device is available; use {option}{sep}cpu")
        return torch.device("cuda", local_rank)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"invalid {option} {name!r} (choices: auto, cpu, cuda)")


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """``auto`` → bf16 on bf16-capable CUDA, none elsewhere; fp16 on CPU is a ConfigError."""
    if amp == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if amp == "none":
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError("runtime.amp=fp16 needs CUDA; use runtime.amp=bf16 or none on CPU")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("runtime.amp=bf16 is not supported by this GPU; use runtime.amp=fp16")
    if amp not in _AMP_DTYPES:
        raise ConfigError(f"invalid runtime.amp {amp!r} (choices: auto, none, bf16, fp16)")
    return _AMP_DTYPES[amp]


def resolve_channels_last(setting: str, device: torch.device, backbone: str | None = None) -> bool:
    """``on``/``off`` as given; ``auto`` → on for CUDA, on CPU per :data:`CPU_CHANNELS_LAST` (off if unknown)."""
    if setting not in ("auto", "on", "off"):
        raise ConfigError(f"invalid runtime.channels_last {setting!r} (choices: auto, on, off)")
    if setting != "auto":
        return setting == "on"
    return device.type == "cuda" or (device.type == "cpu" and CPU_CHANNELS_LAST.get(backbone or "", False))


def setup_runtime(cfg: RuntimeConfig, backbone: str | None = None) -> RuntimeEnv:
    """Resolve device/AMP/layout, set threads and determinism, and join the torchrun group if any.

    ``backbone`` (``model.backbone``) picks the CPU default of ``channels_last: auto``.

    Side effects (process-wide, by design of a runtime): ``torch.set_num_threads`` when
    ``cfg.num_threads > 0`` (or ``AGCL_NUM_THREADS``), deterministic algorithms when
    ``cfg.deterministic``, and ``torch.distributed`` initialisation under torchrun.
    """
    threads = cfg.num_threads or int(os.environ.get("AGCL_NUM_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    want = cfg.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    info = init_distributed(want)
    device = resolve_device(want, info.local_rank)
    amp_dtype = resolve_amp(cfg.amp, device)
    channels_last = resolve_channels_last(cfg.channels_last, device, backbone)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"
    amp_name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(amp_dtype, "none")  # type: ignore[arg-type]
    return RuntimeEnv(device=device, amp_dtype=amp_dtype, channels_last=channels_last, dist=info, amp_name=amp_name)
