"""``agcl predict``: probabilities, heatmaps and boxes (original pixels) for new image files.

Exit codes: 0 every input was processed; 3 some inputs were rejected (each named on stderr and in
``failures.csv``) but the rest were processed and written; 2 nothing could be done (bad checkpoint,
no readable image, bad option).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors
from agcl.errors import InputError

#: Exit code when some inputs were rejected while the others were processed.
EXIT_PARTIAL = 3

log = logging.getLogger(__name__)


@user_errors
def predict(
    inputs: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, DICOM) and/or folders (scanned recursively).")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="checkpoint.pt of a multilabel or two-path stage.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; nothing outside it is written).")],
    overlays: Annotated[bool, typer.Option("--overlays/--no-overlays", help="Also write heatmap overlay PNGs with boxes.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass (>= 1).")] = 8,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when available) | cpu | cuda.")] = "auto",
    generator: Annotated[str, typer.Option("--generator", help="Heatmap-to-box generator: cam20 | wang2017.")] = "cam20",
    box_threshold: Annotated[float, typer.Option("--box-threshold",
                                                 help="Make boxes for labels with probability >= this, in [0, 1] (0 = all 14).")] = 0.5,
    box_grid: Annotated[int, typer.Option("--box-grid",
                                          help="Find boxes on the CAM upsampled to this grid (capped at the input size; 0 = input size).")] = 128,
    workers: Annotated[int, typer.Option("--workers", help="Processes decoding images ahead of the network (0 = none).")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    heatmap: Annotated[str, typer.Option("--heatmap", help="Heatmap source for boxes and overlays: cam | gradcam | gradcampp | regression (two-path checkpoints: the regressed heatmaps).")] = "cam",
) -> None:
    """Predict the 14 labels, heatmaps and boxes for image files; write them into --out.

    Writes predictions.csv/.json, boxes.csv (x0,y0,x1,y1 in original image pixels), heatmaps.npy (+ heatmaps_index.csv), failures.csv, and overlays/*.png with --overlays.

    Exit code 0: all inputs processed; 3: some inputs rejected (the others are still written); 2: nothing could be predicted.
    """
    from agcl.inference.driver import predict_checkpoint

    result = predict_checkpoint(checkpoint, inputs, out=out, overlays=overlays, batch_size=batch_size, device=device,
                                generator=generator, box_threshold=box_threshold, box_grid=box_grid, workers=workers,
                                progress=progress, heatmap=heatmap)
    n_ok, n_bad = len(result.probabilities), len(result.failures)
    if n_ok == 0 and n_bad:
        raise InputError(f"no input could be predicted: all {n_bad} rejected (reasons in {out / 'failures.csv'})")
    typer.echo(f"predicted {n_ok} image(s), {len(result.boxes)} box(es) -> {out}")
    if n_bad:
        typer.echo(f"{n_bad} input(s) rejected; see {out / 'failures.csv'}", err=True)
        raise typer.Exit(EXIT_PARTIAL)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
