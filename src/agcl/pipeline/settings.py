"""Config sections of the whole AGCL pipeline (``agcl run`` / ``agcl demo``).

:class:`PipelineConfig` extends :class:`agcl.config.TrainConfig` (``data``, ``model``, ``optim``,
``runtime`` are shared by every training stage) with the sections below; YAML, ``--set`` overrides and
"did you mean" errors come from :mod:`agcl.config.loader` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from agcl.config import TrainConfig
from agcl.config.ranges import AT_LEAST_ONE, BOOTSTRAP, NON_NEGATIVE, OVERLAP_T, SEED, UNIT, Range, check
from agcl.errors import ConfigError
from agcl.labels import LABELS, UnknownLabelError, canonical_label


@dataclass(frozen=True)
class SourceConfig:
    """Inputs beyond the index/cache.

    Attributes:
        raw_dir: an NIH-layout folder; when set and ``data.index_dir`` is empty, ``agcl run`` indexes it
            and prepares the cache as its first stages (into ``RUN/data/``).
        severity: severity table CSV (``id,label,status,severity[,evidence]`` from ``agcl mine`` or an
            import, or already joined ``image_id,label,status,severity``); empty = none (AGCL degrades
            to AGL-like behaviour, logged loudly).
        truth_boxes: optional CSV ``image_id,label,x0,y0,x1,y1`` (original pixels) of lesions on
            *training* images, used only for seed diagnostics (never for training or selection).
    """

    raw_dir: str = ""
    severity: str = ""
    truth_boxes: str = ""


@dataclass(frozen=True)
class StageTrainConfig:
    """Per-stage overrides of ``optim`` (0 = use ``optim``'s value)."""

    max_epochs: int = 0
    patience: int = 0
    lr: float = 0.0

    SECTION: ClassVar[str] = "stage"

    def __post_init__(self) -> None:
        for name in ("max_epochs", "patience", "lr"):
            check(f"{self.SECTION}.{name}", getattr(self, name), NON_NEGATIVE)


@dataclass(frozen=True)
class BaselineTrainConfig(StageTrainConfig):
    """``baseline``: overrides of ``optim`` for the BSL stage."""

    SECTION: ClassVar[str] = "baseline"


@dataclass(frozen=True)
class RefineTrainConfig(StageTrainConfig):
    """``refine_train``: overrides of ``optim`` for the two-path stages (AGL, AGCL-k)."""

    SECTION: ClassVar[str] = "refine_train"


@dataclass(frozen=True)
class CurriculumConfig:
    """Per-disease binary curriculum networks (paper §2.2).

    Attributes:
        schedule: ``epochs`` (each cumulative stage trains ``epochs_per_stage`` epochs) or
            ``convergence`` (each stage trains until its validation loss plateaus for ``patience``
            epochs, at most ``max_epochs_per_stage``).
        labels: diseases to build binary networks for; empty = all 14.
        min_positives: diseases with fewer training positives get no binary network (logged).
        max_positives: cap on training positives per disease (seeded subsample, 0 = all) — a speed knob.
        lr: learning rate of the binary networks (0 = ``optim.lr``).
        batch_size: 0 = ``data.batch_size``.
        seed: seed of the negative sampling and subsampling.
        distribute: under torchrun, ``ddp`` trains each network with every rank, ``labels`` deals the
            diseases to the ranks (each trains its own as one process); docs/pipeline.md.
    """

    schedule: Literal["epochs", "convergence"] = "epochs"
    epochs_per_stage: int = 2
    max_epochs_per_stage: int = 5
    patience: int = 1
    labels: tuple[str, ...] = ()
    min_positives: int = 5
    max_positives: int = 0
    lr: float = 0.0
    batch_size: int = 0
    seed: int = 0
    distribute: Literal["ddp", "labels"] = "ddp"

    def __post_init__(self) -> None:
        for name in ("epochs_per_stage", "max_epochs_per_stage", "patience"):
            check(f"curriculum.{name}", getattr(self, name), AT_LEAST_ONE)
        for name in ("min_positives", "max_positives", "lr", "batch_size"):
            check(f"curriculum.{name}", getattr(self, name), NON_NEGATIVE)
        check("curriculum.seed", self.seed, SEED)
        for lab in self.labels:
            try:
                canonical_label(lab, where="curriculum.labels")
            except UnknownLabelError as exc:
                raise ConfigError(str(exc)) from None

    def label_list(self) -> list[str]:
        return [canonical_label(x) for x in self.labels] if self.labels else list(LABELS)


@dataclass(frozen=True)
class SeedsConfig:
    """Seed harvesting (paper §2.3).

    Attributes:
        rule/target/min_t: how the S2 threshold t is chosen on validation (see :mod:`agcl.pipeline.seeds`);
            ``min_t`` = 0.5 encodes "correctly classified" by the binary softmax network (§2.3).
        agl_min_t: the floor of t for AGL seeds, which rank the baseline's sigmoid outputs: under
            multi-label class imbalance those rarely exceed 0.5 even for clear positives, so the AGL
            rule ("high-scoring baseline images", §3) uses only the validation-chosen t by default.
        use_s1: include severe/moderate positives as seeds (S1).
        target_norm: how a seed CAM becomes a regression target: ``minmax`` (each map to [0,1]) or
            ``none`` (raw CAM).
        reference: what a seed map is measured against. ``none``: the raw CAM of Eq. 1 (the paper).
            ``no_finding`` (the default, chosen on validation: docs/results.md, "Seed reference"): the
            CAM minus that network's mean CAM over ``reference_images`` No Finding training images, i.e.
            the evidence relative to an average normal image. A fine-tuned GAP classifier carries an
            image-independent map (cold lungs, warm borders) that decides the raw CAM's peak whenever
            the finding is faint; subtracting it leaves what the image adds. docs/pipeline.md, "Seed
            reference". A run saved before the key existed reads as ``none`` (``ABSENT``).
        reference_images: how many No Finding training images (a seeded sample, the same for every
            network of a run) give that mean.
    """

    rule: Literal["precision", "quantile", "fixed"] = "precision"
    target: float = 0.9
    min_t: float = 0.5
    agl_min_t: float = 0.0
    use_s1: bool = True
    target_norm: Literal["minmax", "none"] = "minmax"
    #: What an agcl from before these keys did (read for a run's saved config.yaml that lacks them).
    ABSENT: ClassVar[dict[str, object]] = {"reference": "none"}
    reference: Literal["none", "no_finding"] = "no_finding"
    reference_images: int = 256

    def __post_init__(self) -> None:
        for name in ("target", "min_t", "agl_min_t"):  # a precision, a quantile or a probability threshold
            check(f"seeds.{name}", getattr(self, name), UNIT)
        check("seeds.reference_images", self.reference_images, AT_LEAST_ONE)


@dataclass(frozen=True)
class RefineConfig:
    """Two-path attention-guided training (Eq. 2–4) and its iterations.

    Attributes:
        rounds: k — AGCL-1 … AGCL-k.
        lam: λ of Eq. 4 (paper: 0.005), expressed per map of ``lam_cells`` cells: Eq. 2 sums over the
            h×w cells of a map, so the loss applies the effective weight ``λ·lam_cells/(h·w)`` and λ means
            the same at every CAM size (16×16: λ itself; 8×8: 4λ; 6×6: 7.1λ). docs/training.md, "Loss scale".
        lam_cells: the cell count λ is expressed for (256 = 16×16, the maps of ResNet-50 at 512 px where
            the paper set λ); 0 = apply λ to the map as it is, the meaning of ``refine.lam`` in runs made
            before this key existed.
        init: two-path networks start from the ``bsl`` weights (paper) or the ``previous`` round.
        agl: also run the AGL ablation (seeds from the baseline only).
        control: also train the matched control BSL+ (stage ``bsl_plus``): the two-path network from the
            BSL checkpoint for the refinement's epoch budget (``refine_train``) with the same optimiser,
            augmentation and data order, at λ = 0 and without seeds — BSL trained as long as each
            AGL/AGCL-k, the fair comparison for every refinement row (docs/pipeline.md).
    """

    #: What a config written before a key existed meant (read by :func:`agcl.pipeline.driver.saved_config`).
    ABSENT: ClassVar[dict[str, object]] = {"lam_cells": 0}

    rounds: int = 2
    lam: float = 0.005
    lam_cells: int = 256
    init: Literal["bsl", "previous"] = "bsl"
    agl: bool = True
    control: bool = False

    def __post_init__(self) -> None:
        check("refine.rounds", self.rounds, Range(0, 100))
        check("refine.lam", self.lam, NON_NEGATIVE)
        check("refine.lam_cells", self.lam_cells, NON_NEGATIVE)


@dataclass(frozen=True)
class EvalConfig:
    """Test-split evaluation (Tables 1 and 2; docs/evaluation.md). Keys carry the names of ``agcl evaluate``'s
    options (``--generator``, ``--t``, ``--scope``); the former keys ``box_method`` and ``iobb`` are still read."""

    RENAMED: ClassVar[dict[str, str]] = {"box_method": "generator", "iobb": "t"}

    generator: Literal["wang2017", "cam20"] = "wang2017"
    t: float = 0.25
    scope: Literal["gt_images", "all_box_images", "predicted_positive"] = "gt_images"
    bootstrap: int = 0  # resamples for Table 1 CIs and the paired differences vs BSL / BSL+ (0 = off)
    controls: tuple[Literal["uniform", "centre"], ...] = ("uniform", "centre")  # scored beside the models

    def __post_init__(self) -> None:  # the ranges of `agcl evaluate --t/--bootstrap` (agcl.evaluation.settings)
        check("eval.t", self.t, OVERLAP_T)
        check("eval.bootstrap", self.bootstrap, BOOTSTRAP)
        if len(set(self.controls)) != len(self.controls):
            raise ConfigError(f"eval.controls lists a control twice: {list(self.controls)}")


@dataclass(frozen=True)
class PipelineConfig(TrainConfig):
    """Root config of ``agcl run`` / ``agcl demo``."""

    source: SourceConfig = field(default_factory=SourceConfig)
    baseline: BaselineTrainConfig = field(default_factory=BaselineTrainConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    refine_train: RefineTrainConfig = field(default_factory=RefineTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
