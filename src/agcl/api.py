"""The notebook API: thin wrappers over what the CLI commands run, returning Python objects.

>>> import agcl
>>> res = agcl.predict("run/stage_agcl_2/checkpoint.pt", ["scans/"], box_threshold=0.5)
>>> res.probabilities.head()      # one row per image: image, width, height + 14 probabilities
>>> res.boxes                     # image, label, x0, y0, x1, y1, score (ORIGINAL image pixels)
>>> agcl.report("run")            # -> Path("run/eval/report.html")

>>> tables = agcl.evaluate("runs/idx", ["run/stage_bsl", "run/stage_agcl_2"])   # mirrors ``agcl evaluate``

The evaluation *package* (pure table functions, artifacts) is :mod:`agcl.evaluation`; ``agcl.evaluate``
is the function behind the ``agcl evaluate`` command (``evaluate_stages`` is kept as an alias).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agcl.inference.predictor import PredictionSet

PathLike = str | os.PathLike[str]


def predict(
    checkpoint: PathLike,
    images: PathLike | Sequence[PathLike],
    *,
    out: PathLike | None = None,
    overlays: bool = False,
    batch_size: int = 8,
    device: str = "auto",
    generator: str = "cam20",
    box_threshold: float = 0.5,
    box_grid: int = 128,
    workers: int = 0,
    progress: bool = False,
    heatmap: str = "cam",
) -> PredictionSet:
    """Predict the 14 labels, heatmaps and boxes for image files or folders (mirrors ``agcl predict``).

    Args:
        checkpoint: a stage's ``checkpoint.pt`` (multilabel or two-path network).
        images: one path or a list of files (PNG, JPEG, DICOM) and folders (scanned recursively).
        out: if given, also write the CLI's files there (predictions.csv/.json, boxes.csv, heatmaps.npy…).
        overlays: with ``out``, also write overlay PNGs into ``out/overlays``.
        batch_size: images per forward pass.
        device: ``auto`` | ``cpu`` | ``cuda``.
        generator: heatmap→box generator, ``cam20`` or ``wang2017``.
        box_threshold: make boxes for labels whose probability is at least this (0 = all labels).
        box_grid: find boxes on the CAM upsampled to this grid side (capped at the input size; 0 = the
            input size); boxes are always returned in original pixels.
        workers: processes decoding images ahead of the network (0 = decode in this process).
        progress: show a progress bar.
        heatmap: heatmap source for boxes and overlays: ``cam`` (exact CAM) | ``gradcam`` | ``gradcampp`` |
            ``regression`` (a two-path checkpoint's regressed Ĥ).

    Returns:
        A :class:`~agcl.inference.predictor.PredictionSet`: ``.probabilities``, ``.boxes`` (original
        pixels), ``.heatmaps`` ``[N,14,h,w]`` and ``.failures`` (rejected files; never raised).
    """
    from agcl.inference.driver import predict_checkpoint

    return predict_checkpoint(checkpoint, images, out=out, overlays=overlays, batch_size=batch_size, device=device,
                              generator=generator, box_threshold=box_threshold, box_grid=box_grid, workers=workers,
                              progress=progress, heatmap=heatmap)


def report(run_dir: PathLike, *, seed: int = 0, n_random: int = 1, tile: int = 256) -> Path:
    """Write ``RUN/eval/report.html`` (mirrors ``agcl report``) and return its path."""
    from agcl.viz.report import ReportOptions, build_report

    return build_report(run_dir, ReportOptions(seed=seed, n_random=n_random, tile=tile))


def evaluate_stages(
    index_dir: PathLike,
    stages: PathLike | Sequence[PathLike] = (),
    *,
    names: Sequence[str] = (),
    controls: Sequence[str] = (),
    out: PathLike | None = None,
    cache: PathLike | None = None,
    control_size: int = 0,
    device: str = "auto",
    settings: Any = None,
    **options: Any,
) -> list[Any]:
    """Tables 1 and 2, MaxBoxAcc/V2 and the calibration split for stage folders and/or controls on the test
    split (mirrors ``agcl evaluate``).

    Evaluation settings are either ``settings`` (an :class:`agcl.evaluation.settings.EvalSettings`) or
    keyword ``options`` with the CLI's names and defaults (``generator="wang2017"``, ``t=0.25``,
    ``criterion``, ``scope``, ``threshold``, ``upsample``, ``upsample_size``, ``connectivity``,
    ``normalization``, ``bootstrap``, ``seed``, ``heatmap``, ``pointing_tolerance``,
    ``calibration_fraction``, ``calibration_file``; see :func:`agcl.evaluation.settings.eval_settings`).
    Writes ``auc.csv``, ``localization.csv``, ``summary.md`` … into ``out`` (default: ``eval/`` beside the
    first stage) and returns one :class:`agcl.evaluation.ModelResult` per model (``.auc``,
    ``.localization``, ``.maxboxacc``, ``.boxes`` DataFrames).
    """
    from agcl.errors import ConfigError
    from agcl.evaluation.runner import run_evaluation
    from agcl.evaluation.settings import eval_settings

    if settings is not None and options:
        raise ConfigError(f"give either settings or options, not both (options: {sorted(options)})")
    try:
        settings = settings if settings is not None else eval_settings(**options)
    except TypeError as exc:  # an unknown keyword
        raise ConfigError(str(exc)) from None
    stage_list = [stages] if isinstance(stages, str | os.PathLike) else list(stages)
    return run_evaluation(
        index_dir=Path(index_dir), stages=[Path(s) for s in stage_list], names=list(names), controls=list(controls),
        out=Path(out) if out is not None else None, cache=Path(cache) if cache is not None else None,
        settings=settings, control_size=control_size, device=device)


#: ``agcl.evaluate(...)`` mirrors the ``agcl evaluate`` command.
evaluate = evaluate_stages
