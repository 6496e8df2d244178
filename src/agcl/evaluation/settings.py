"""The settings every evaluation number depends on: one frozen object, built once and passed through.

Each setting has one name everywhere — the ``agcl evaluate`` flag (``--generator``, ``--t`` …), the
keyword of :func:`agcl.evaluate`, the field here and the column/key in the written tables — and the
``eval`` config section of ``agcl run`` uses the same names. :func:`eval_settings` validates the
options once (a :class:`~agcl.errors.ConfigError` naming the flag, with "did you mean") and returns
the :class:`EvalSettings` that the runner, the calibration and the table writers share.
See docs/evaluation.md for what each setting means.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from agcl.boxes.generators import GENERATORS, NORMALIZATIONS, UPSAMPLE, BoxSettings
from agcl.config import did_you_mean
from agcl.config.ranges import BOOTSTRAP, OVERLAP_T, PIXELS, SEED, UNIT, Range, check
from agcl.errors import ConfigError
from agcl.evaluation.localization import CRITERIA, SCOPES

#: Heatmap sources: the exact CAM stored by a stage, or Grad-CAM / Grad-CAM++ / a two-path network's
#: regressed heatmaps Ĥ (Eq. 2) computed from its checkpoint.
HEATMAP_SOURCES = ("cam", "gradcam", "gradcampp", "regression")


@dataclass(frozen=True)
class EvalSettings:
    """Everything a number in the tables depends on (each table names these; see :meth:`describe`).

    ``boxes.upsample_size == 0`` means "the cache side S" and is resolved by the runner. The
    calibration fields choose the calibration part of the box images (docs/evaluation.md,
    "Calibration split"); they do not change Table 1/Table 2, which use every test box image.
    """

    boxes: BoxSettings = field(default_factory=BoxSettings)
    t: float = 0.25
    criterion: str = "iobb"
    scope: str = "gt_images"
    threshold: float = 0.5
    bootstrap: int = 0
    seed: int = 0
    heatmap: str = "cam"
    pointing_tolerance: float = 0.0
    calibration_fraction: float = 0.2
    calibration_file: str | None = None

    def describe(self) -> dict:
        """The settings of the main tables as a flat dict (CSV columns, summary headers)."""
        d = {k: v for k, v in asdict(self).items()
             if k not in ("boxes", "calibration_fraction", "calibration_file")}
        if self.scope != "predicted_positive":
            d.pop("threshold")
        return {**self.boxes.describe(), **d}

    def calibration(self) -> dict:
        """How the calibration part is chosen (recorded beside the calibration results)."""
        if self.calibration_file:
            return {"calibration_file": self.calibration_file}
        return {"calibration_fraction": self.calibration_fraction, "seed": self.seed}


def check_choice(option: str, value, allowed) -> None:
    """Raise a ConfigError naming ``--option`` (with a "did you mean") unless ``value`` is allowed."""
    if value not in allowed:
        raise ConfigError(f"--{option} {value!r} is not one of {list(allowed)}{did_you_mean(value, allowed)}")


#: The range of each numeric option (the ``eval`` config section checks ``t`` and ``bootstrap`` with the same).
RANGES: dict[str, Range] = {
    "t": OVERLAP_T, "threshold": UNIT, "bootstrap": BOOTSTRAP, "upsample-size": PIXELS,
    "calibration-fraction": Range(0, 1, high_open=True), "pointing-tolerance": PIXELS, "seed": SEED,
    "control-size": PIXELS,
}


def check_range(option: str, value: float) -> None:
    """Raise a ConfigError naming ``--option`` for NaN or a value outside its :data:`RANGES` entry."""
    check(f"--{option}", value, RANGES[option])


def eval_settings(*, generator: str = "wang2017", t: float = 0.25, criterion: str = "iobb",
                  scope: str = "gt_images", threshold: float = 0.5, upsample: str = "before", upsample_size: int = 0,
                  connectivity: int = 8, normalization: str = "minmax", bootstrap: int = 0, seed: int = 0,
                  heatmap: str = "cam", pointing_tolerance: float = 0.0, calibration_fraction: float = 0.2,
                  calibration_file: str | None = None) -> EvalSettings:
    """Validate the options of ``agcl evaluate`` (same names, same defaults) into one :class:`EvalSettings`.

    Raises:
        ConfigError: a choice that is not allowed (the message names the ``--flag``).
    """
    for option, value, allowed in (("generator", generator, GENERATORS), ("criterion", criterion, CRITERIA),
                                   ("scope", scope, SCOPES), ("upsample", upsample, UPSAMPLE),
                                   ("normalization", normalization, NORMALIZATIONS),
                                   ("connectivity", connectivity, (4, 8)), ("heatmap", heatmap, HEATMAP_SOURCES)):
        check_choice(option, value, allowed)
    for option, value in (("t", t), ("threshold", threshold), ("bootstrap", bootstrap), ("seed", seed),
                          ("upsample-size", upsample_size), ("calibration-fraction", calibration_fraction),
                          ("pointing-tolerance", pointing_tolerance)):
        check_range(option, value)
    boxes = BoxSettings(generator=generator, upsample=upsample, upsample_size=upsample_size,
                        connectivity=connectivity, normalization=normalization)
    return EvalSettings(boxes=boxes, t=t, criterion=criterion, scope=scope, threshold=threshold, bootstrap=bootstrap,
                        seed=seed, heatmap=heatmap, pointing_tolerance=pointing_tolerance,
                        calibration_fraction=calibration_fraction,
                        calibration_file=str(calibration_file) if calibration_file is not None else None)
