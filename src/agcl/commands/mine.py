"""``agcl mine``: mine disease mentions, status and severity from reports into a severity table (AGCL §2.2)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors
from agcl.errors import InputError

log = logging.getLogger(__name__)


def _write_csv(df, path: Path) -> None:
    from agcl.io import write_with_atomic

    write_with_atomic(path, lambda tmp: df.to_csv(tmp, index=False))


#: Report files a folder input is read for (an output with one of these names inside it would be read back).
_READ_SUFFIXES = {".txt", ".xml"}


def _check_outputs(input, out, import_severity, map, images_out, mentions_out, lexicon) -> None:
    """No output may replace an input (or another output), nor land among the reports of a folder input."""
    from agcl.paths import check_apart

    outputs = [("--out", out), ("--images-out", images_out or (out.with_suffix(".images.csv") if input else None)),
               ("--mentions-out", mentions_out)]
    inputs = [("--map", map), ("--import-severity", import_severity)]
    if lexicon is not None:
        inputs += [("--lexicon", lexicon / name) for name in ("findings.yaml", "context.yaml")]
    if input is not None and not input.is_dir():
        inputs.append(("INPUT", input))
    check_apart(outputs, inputs)
    if input is not None and input.is_dir():
        folder = input.resolve()
        for label, path in outputs:
            if path is not None and path.suffix.lower() in _READ_SUFFIXES and folder in path.resolve().parents:
                raise InputError(f"{label} {path} lies among the reports of INPUT {input} and would be read as "
                                 "a report next time; write it elsewhere")


def _read_map(path: Path, report_col: str, image_col: str):
    import pandas as pd

    from agcl.paths import regular_file

    regular_file(path, "mapping")
    try:
        mapping = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read mapping {path}: {str(exc).splitlines()[0]}") from None
    for col in (report_col, image_col):
        if col not in mapping.columns:
            raise InputError(f"{path}: missing column {col!r} (columns: {', '.join(mapping.columns)}); "
                             "choose others with --map-report-col/--map-image-col")
    return mapping


@user_errors
def mine(
    input: Annotated[Path | None, typer.Argument(help="Reports: a CSV, an OpenI .tgz / XML folder, or a folder of .txt.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Severity table to write (id,label,status,severity,evidence); with --import-severity the image-level table.")] = Path("severity.csv"),
    format: Annotated[str, typer.Option("--format", help="Input format: auto, csv, openi or txt.")] = "auto",
    id_col: Annotated[str, typer.Option(help="CSV: report id column.")] = "id",
    text_col: Annotated[str, typer.Option(help="CSV: report text column.")] = "report",
    map: Annotated[Path | None, typer.Option("--map", help="CSV mapping report ids to image ids; writes the image-level table too.")] = None,
    map_report_col: Annotated[str, typer.Option(help="--map: report id column.")] = "report_id",
    map_image_col: Annotated[str, typer.Option(help="--map: image id column.")] = "image_id",
    openi_map: Annotated[bool, typer.Option(help="OpenI: join to the <parentImage> ids of each report.")] = True,
    images_out: Annotated[Path | None, typer.Option(help="Image-level table (image_id,label,status,severity); default: OUT with suffix .images.csv.")] = None,
    mentions_out: Annotated[Path | None, typer.Option(help="Also write the mention-level table (one row per mention, with cue and severity word).")] = None,
    lexicon: Annotated[Path | None, typer.Option(help="Folder with your own findings.yaml + context.yaml (default: the packaged lexicon).")] = None,
    import_severity: Annotated[Path | None, typer.Option("--import-severity", help="Import a per-image severity CSV (image_id,label,severity in mild/moderate/severe or 1/2/3) instead of mining.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Mine reports into a severity table (or import third-party per-image severity)."""
    _check_outputs(input, out, import_severity, map, images_out, mentions_out, lexicon)
    if import_severity is not None:
        from agcl.reports.severity_import import import_severity as do_import

        if input is not None:
            raise InputError("give either INPUT reports or --import-severity FILE, not both")
        table = do_import(import_severity)
        _write_csv(table, out)
        log.info("imported %d image-level severity rows from %s -> %s", len(table), import_severity, out)
        return
    if input is None:
        raise InputError("missing INPUT (reports to mine) or --import-severity FILE")

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agcl.reports.aggregate import aggregate, join_images
    from agcl.reports.lexicon import load_lexicon
    from agcl.reports.mining import ReportMiner
    from agcl.reports.readers import read_reports

    mapping = _read_map(map, map_report_col, map_image_col) if map is not None else None
    reports = read_reports(input, format, id_col=id_col, text_col=text_col)
    miner = ReportMiner(load_lexicon(lexicon))
    log.info("mining %d reports from %s (lexicon %s)", len(reports.reports), input, miner.lexicon.version)
    columns = (TextColumn("mining"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=not progress) as bar:
        task = bar.add_task("mine", total=len(reports.reports))
        mentions = miner.mine(reports.reports, on_report=lambda: bar.advance(task))
    table = aggregate(mentions)
    if mentions_out is not None:
        _write_csv(mentions, mentions_out)
    _write_csv(table, out)
    counts = table.groupby("status").size().to_dict() if not table.empty else {}
    log.info("%d reports (%d empty skipped) -> %d rows (%s) -> %s", len(reports.reports),
             len(reports.skipped_empty), len(table), ", ".join(f"{k} {v}" for k, v in counts.items()), out)
    if mapping is None and openi_map and reports.mapping is not None:
        mapping, map_report_col, map_image_col = reports.mapping, "report_id", "image_id"
    if mapping is not None:
        images = join_images(table, mapping, report_col=map_report_col, image_col=map_image_col,
                             source=str(map or input))
        target = images_out or out.with_suffix(".images.csv")
        _write_csv(images, target)
        log.info("joined to %d image-level rows -> %s", len(images), target)


def register(app: typer.Typer) -> None:
    app.command("mine")(mine)
