"""``agcl synth``: write a synthetic chest X-ray phantom in NIH layout (plus reports and a truth folder)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors
from agcl.errors import InputError

log = logging.getLogger(__name__)

#: Kept literal so that ``agcl --help`` does not import the renderer (a test checks it against PROFILES).
PROFILE_OPTION_HELP = ("Named preset of the phantom's knobs: calibrated = realistic shortcuts, the baseline's "
                       "AUC calibrated to the paper's Table 1; shortcuts = the first phantom, where devices, "
                       "markers, AP view and exposure dominate the lesions (docs/phantom.md, \"Profiles\").")

@user_errors
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder (absent, empty, or a phantom with the same spec).")],
    n: Annotated[int, typer.Option("--n", help="Number of images.")] = 3000,
    size: Annotated[int, typer.Option("--size", help="Side of the square 8-bit PNGs in pixels.")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Seed; the output is a pure function of (seed, spec).")] = 0,
    workers: Annotated[int, typer.Option(help="Rendering processes (output does not depend on it).")] = 2,
    profile: Annotated[str, typer.Option(help=PROFILE_OPTION_HELP)] = "calibrated",
    lesion_contrast: Annotated[float | None, typer.Option(
        show_default="the profile's", help="Global multiplier on lesion contrast (difficulty).")] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of images (whole patients) in test_list.txt.")] = 0.23,
    exposure_shortcut: Annotated[float | None, typer.Option(
        show_default="the profile's", help="Strength of the exposure shortcut (sicker/AP images are whiter); "
        "0 = exposure independent of findings.")] = None,
    preview: Annotated[bool, typer.Option("--preview", show_default="off", help="Also write a contact sheet (OUT/preview.png) of "
                                          "examples per class with their truth boxes.")] = False,
    preview_path: Annotated[Path | None, typer.Option(show_default="none", help="Write the contact sheet here instead "
                                                       "(implies --preview).")] = None,
) -> None:
    """Synthesize a phantom dataset: images/, Data_Entry_2017_v2020.csv, BBox_List_2017.csv, split lists,
    reports.csv and truth/ (lesions, mentions, shortcuts, label noise, spec)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from agcl.config.ranges import IMAGE_SIZE, SEED, WORKERS, Range, check
    from agcl.data.phantom import phantom_spec, synthesize
    from agcl.data.phantom.preview import write_preview
    from agcl.data.phantom.profiles import check_profile

    fields: dict[str, float] = {}
    for option, name, value in (("--lesion-contrast", "lesion_contrast", lesion_contrast),
                                ("--exposure-shortcut", "exposure_shortcut", exposure_shortcut)):
        if value is not None:
            if not math.isfinite(value):
                raise InputError(f"{option} must be a finite number, got {value}")
            fields[name] = value
    for option, value, allowed in (("--seed", seed, SEED), ("--workers", workers, WORKERS),
                                   ("--size", size, IMAGE_SIZE), ("--n", n, Range(1, 10_000_000))):
        check(option, value, allowed)
    if preview_path is not None and preview_path.absolute() != (out / "preview.png").absolute() and (
            out.absolute() in preview_path.absolute().parents):
        raise InputError(f"--preview-path {preview_path} lies inside OUT {out}, among the phantom's own files; "
                         "write it outside OUT (or omit it: --preview writes OUT/preview.png)")
    try:
        check_profile(profile)
    except ValueError as exc:
        raise InputError(f"--profile: {exc}") from None
    try:
        spec = phantom_spec(profile, n=n, size=size, test_fraction=test_fraction, **fields)
    except ValueError as exc:
        raise InputError(f"invalid phantom option: {exc}") from None
    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("synth", total=spec.n)
        synthesize(out, seed=seed, spec=spec, workers=workers,
                   progress=lambda done, total: bar.update(task, completed=done))
    if preview or preview_path is not None:
        target = preview_path if preview_path is not None else out / "preview.png"
        write_preview(out, target)
        log.info("preview written to %s", target)


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
