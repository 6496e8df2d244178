"""Contact sheet of a phantom: one row per class (severe → mild examples) with truth boxes drawn."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from agcl.errors import InputError
from agcl.io import atomic_path
from agcl.labels import LABELS, NO_FINDING

SEVERITY_ORDER = {"severe": 0, "moderate": 1, "mild": 2}


def pick_examples(lesions: pd.DataFrame, label: str, per_row: int) -> pd.DataFrame:
    """Up to ``per_row`` lesions of ``label``, cycling severe, moderate, mild (first by image id)."""
    sub = lesions[lesions["label"] == label].sort_values("image_id")
    sub = sub.assign(rank=sub.groupby("severity").cumcount(), sev=sub["severity"].map(SEVERITY_ORDER))
    return sub.sort_values(["rank", "sev"]).head(per_row).sort_values(["sev", "image_id"])


def write_preview(phantom_dir: str | os.PathLike[str], path: str | os.PathLike[str], per_row: int = 4,
                  tile: int = 128, blocks: int = 2) -> Path:
    """Write a PNG contact sheet of ``phantom_dir`` to ``path`` and return ``path``.

    One row per class (the 14 labels, then "No Finding"), laid out in ``blocks`` side-by-side columns;
    each tile shows the image, the class's truth box (red), the lesion's severity and the image id.
    """
    root = Path(phantom_dir)
    lesions_csv, images_csv = root / "truth" / "lesions.csv", root / "truth" / "images.csv"
    if not lesions_csv.is_file() or not images_csv.is_file():
        raise InputError(f"{root} is not a phantom (missing truth/lesions.csv or truth/images.csv)")
    lesions = pd.read_csv(lesions_csv)
    images = pd.read_csv(images_csv)
    label_w = 130
    n_rows = -(-(len(LABELS) + 1) // blocks)
    block_w = label_w + per_row * tile
    sheet = Image.new("RGB", (blocks * block_w, n_rows * tile), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=11)
    rows = [(lab, pick_examples(lesions, lab, per_row)) for lab in LABELS]
    normal = images[images["true_labels"] == NO_FINDING].head(per_row)
    rows.append((NO_FINDING, normal.assign(severity="", x0=None)))
    for i, (label, examples) in enumerate(rows):
        r, x_off = i % n_rows, (i // n_rows) * block_w
        draw.text((x_off + 6, r * tile + tile // 2 - 8), label.replace("_", " "), fill=(255, 255, 255), font=font)
        for c, ex in enumerate(examples.itertuples(index=False)):
            with Image.open(root / "images" / ex.image_id) as im:
                w, h = im.size
                img = im.convert("RGB").resize((tile, tile), Image.Resampling.BILINEAR)
            d = ImageDraw.Draw(img)
            if ex.x0 is not None and not pd.isna(ex.x0):
                sx, sy = tile / w, tile / h
                d.rectangle([ex.x0 * sx, ex.y0 * sy, ex.x1 * sx - 1, ex.y1 * sy - 1], outline=(255, 40, 40), width=2)
            d.text((3, tile - 13), f"{ex.severity} {ex.image_id[:12]}".strip(), fill=(255, 230, 0), font=small)
            sheet.paste(img, (x_off + label_w + c * tile, r * tile))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(path)
