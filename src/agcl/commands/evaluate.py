"""``agcl evaluate``: Table 1 (AUC), Table 2 (localization), MaxBoxAcc/V2 and the calibration split for one or
more stages or controls. Option names are the fields of :class:`agcl.evaluation.settings.EvalSettings`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors

log = logging.getLogger(__name__)


@user_errors
def evaluate(
    index_dir: Annotated[Path, typer.Argument(help="Index directory (images.csv, boxes.csv) written by `agcl index`.")],
    stage: Annotated[list[Path] | None, typer.Option("--stage", help="Stage directory with predictions.csv + heatmaps.npy (repeatable).", show_default="none")] = None,
    name: Annotated[list[str] | None, typer.Option("--name", help="Column name per --stage.", show_default="folder name without 'stage_'")] = None,
    control: Annotated[list[str] | None, typer.Option("--control", help="Add a control: uniform | centre (repeatable).", show_default="none")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder.", show_default="<parent of the first --stage>/eval")] = None,
    cache: Annotated[Path | None, typer.Option(help="Image cache (manifest sizes, S).", show_default="the single INDEX_DIR/cache_* folder")] = None,
    generator: Annotated[str, typer.Option(help="Heatmap→box generator: wang2017 | cam20.")] = "wang2017",
    t: Annotated[float, typer.Option("--t", help="Overlap threshold T (strict >).")] = 0.25,
    criterion: Annotated[str, typer.Option(help="Match criterion: iobb | iou | either.")] = "iobb",
    scope: Annotated[str, typer.Option(help="Images that get boxes: gt_images | all_box_images | predicted_positive.")] = "gt_images",
    threshold: Annotated[float, typer.Option(help="Probability threshold of scope predicted_positive (choose on validation).")] = 0.5,
    upsample: Annotated[str, typer.Option(help="before: upsample raw CAM then threshold; after: threshold then scale boxes.")] = "before",
    upsample_size: Annotated[int, typer.Option(help="Upsampling grid side for --upsample before (0 = cache size S, else 512).")] = 0,
    connectivity: Annotated[int, typer.Option(help="Connected-component neighbourhood: 8 or 4.")] = 8,
    normalization: Annotated[str, typer.Option(help="Heatmap normalisation before thresholds: minmax | max.")] = "minmax",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for AUC 95% CIs and paired differences vs the first model (0 = off).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of bootstrap and the uniform control.")] = 0,
    control_size: Annotated[int, typer.Option(help="Control heatmap side h=w (0 = the first stage's, else 16).")] = 0,
    heatmap: Annotated[str, typer.Option(help="Heatmap source: cam (the stage's heatmaps.npy) | gradcam | gradcampp | "
                                              "regression (a two-path stage's regressed heatmaps); all but cam are "
                                              "computed from the stage's checkpoint.pt on the cached box images.")] = "cam",
    pointing_tolerance: Annotated[float, typer.Option(help="Pointing game: a hit within this many original pixels of a GT box.")] = 0.0,
    calibration_fraction: Annotated[float, typer.Option(help="Box images (by patient, seeded) held out to choose generator "
                                                             "settings; reported on the rest (0 = off).")] = 0.2,
    calibration_file: Annotated[Path | None, typer.Option(help="CSV with an image_id column: the calibration images "
                                                               "(instead of --calibration-fraction).", show_default="none")] = None,
    device: Annotated[str, typer.Option(help="Device for --heatmap gradcam|gradcampp|regression: auto | cpu | cuda.")] = "auto",
) -> None:
    """Evaluate stages (and controls) on the test split: writes auc.csv, localization.csv, maxboxacc.csv, calibration files, summary.md/json."""
    from agcl.evaluation.runner import run_evaluation
    from agcl.evaluation.settings import eval_settings

    settings = eval_settings(generator=generator, t=t, criterion=criterion, scope=scope, threshold=threshold,
                             upsample=upsample, upsample_size=upsample_size, connectivity=connectivity,
                             normalization=normalization, bootstrap=bootstrap, seed=seed, heatmap=heatmap,
                             pointing_tolerance=pointing_tolerance, calibration_fraction=calibration_fraction,
                             calibration_file=calibration_file)
    run_evaluation(index_dir=index_dir, stages=stage or [], names=name or [], controls=control or [], out=out,
                   cache=cache, settings=settings, control_size=control_size, device=device)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
