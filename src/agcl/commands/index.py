"""``agcl index``: build the dataset index (images.csv, boxes.csv, index.json) from an NIH folder or a CSV."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agcl.commands._shell import user_errors
from agcl.errors import InputError

log = logging.getLogger(__name__)


def _fractions(text: str) -> tuple[float, float, float]:
    from agcl.config.ranges import UNIT, check

    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise InputError(f"--fractions must be three comma-separated numbers, got {text!r}") from None
    if len(parts) != 3:
        raise InputError(f"--fractions must be three comma-separated numbers (train,val,test), got {text!r}")
    for name, value in zip(("train", "val", "test"), parts, strict=True):
        check(f"--fractions ({name})", value, UNIT)
    return parts  # type: ignore[return-value]


@user_errors
def index(
    out: Annotated[Path, typer.Option("--out", help="Index directory to write.")],
    src: Annotated[Path | None, typer.Argument(help="NIH-layout folder (Data_Entry_2017*.csv, images/...). Omit with --csv.")] = None,
    metadata: Annotated[str, typer.Option(help="NIH metadata: auto (v2020 when present), v2020 or 2017.")] = "auto",
    split_file: Annotated[Path | None, typer.Option(help="CSV 'Image Index,split' (train/val/test) instead of the official lists.")] = None,
    val_fraction: Annotated[float, typer.Option(help="NIH: val images carved from train_val by patient, as a fraction of ALL images.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the patient-level split carving.")] = 0,
    allow_missing: Annotated[bool, typer.Option(help="Index only images whose file exists (log how many were dropped).")] = False,
    csv: Annotated[Path | None, typer.Option(help="Generic CSV collection (one row per image) instead of an NIH folder.")] = None,
    root: Annotated[Path | None, typer.Option(help="--csv: folder the image paths are relative to (default: the CSV's folder).")] = None,
    image_col: Annotated[str, typer.Option(help="--csv: image path column.")] = "path",
    labels_col: Annotated[str, typer.Option(help="--csv: labels column (ChestX-ray14 names, 'No Finding').")] = "labels",
    label_sep: Annotated[str, typer.Option(help="--csv: separator inside the labels column.")] = "|",
    patient_col: Annotated[str, typer.Option(help="--csv: patient column ('' = each image its own patient).")] = "patient_id",
    split_col: Annotated[str, typer.Option(help="--csv: split column (train/val/test); '' = carve by patient.")] = "",
    fractions: Annotated[str, typer.Option(help="--csv without --split-col: train,val,test image fractions.")] = "0.7,0.1,0.2",
    boxes: Annotated[Path | None, typer.Option(help="--csv: boxes CSV (image_id,label,x0,y0,x1,y1 or x,y,w,h; file pixels).")] = None,
) -> None:
    """Index a dataset: one row per image with labels, patient and split, plus ground-truth boxes."""
    from agcl.config.ranges import SEED, UNIT, check
    from agcl.data.index import INDEX_OUTPUTS
    from agcl.paths import check_apart
    from agcl.runlock import folder_lock

    check("--seed", seed, SEED)
    check("--val-fraction", val_fraction, UNIT)
    inputs = [("--csv", csv), ("--boxes", boxes), ("--split-file", split_file)]
    if src is not None and src.is_dir():
        from agcl.data.nih import SOURCE_FILES

        inputs += [("SRC", src / name) for name in SOURCE_FILES]
    check_apart([(f"--out ({name})", out / name) for name in INDEX_OUTPUTS], inputs)
    split_fractions = _fractions(fractions) if csv is not None else None
    if csv is not None and not label_sep:
        raise InputError("--label-sep must not be empty (labels are split on it, e.g. '|')")
    with folder_lock(out):
        _index(out, src, metadata, split_file, val_fraction, seed, allow_missing, csv, root, image_col, labels_col,
               label_sep, patient_col, split_col, split_fractions, boxes)


def _index(out, src, metadata, split_file, val_fraction, seed, allow_missing, csv, root, image_col, labels_col,
           label_sep, patient_col, split_col, fractions, boxes) -> None:
    from agcl.data.index import save_index

    if csv is not None:
        from agcl.data.table import TableOptions, build_csv_index

        if src is not None:
            raise InputError("give either SRC (NIH folder) or --csv, not both")
        opts = TableOptions(image_col=image_col, labels_col=labels_col, label_sep=label_sep,
                            patient_col=patient_col or None, split_col=split_col or None,
                            fractions=fractions, seed=seed, boxes=boxes, allow_missing=allow_missing)
        images, box_frame, info = build_csv_index(csv, root if root is not None else csv.parent, opts)
    else:
        from agcl.data.nih import NihOptions, build_nih_index

        if src is None:
            raise InputError("missing SRC (an NIH-layout folder) or --csv FILE")
        images, box_frame, info = build_nih_index(src, NihOptions(metadata=metadata, split_file=split_file,
                                                                  val_fraction=val_fraction, seed=seed,
                                                                  allow_missing=allow_missing))
    save_index(out, images, box_frame, info)
    splits = images["split"].value_counts()
    log.info("indexed %d images of %d patients (train %d, val %d, test %d), %d boxes -> %s", len(images),
             images["patient_id"].nunique(), splits.get("train", 0), splits.get("val", 0), splits.get("test", 0),
             len(box_frame), out)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
