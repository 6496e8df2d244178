"""Seed attention maps: storage (``seeds.csv`` + ``seed_maps.npy``) and regression targets (Eq. 2).

A seed stage writes ``seeds.csv`` (``image_id,label,rule,iteration,prob``), ``seed_maps.npy``
(float16 raw CAMs ``[M,h,w]``, row ``i`` belongs to row ``i`` of seeds.csv, feature-map frame of the
cache image) and ``provenance.json`` (per label: source network/checkpoint, threshold t and how it was
chosen, counts). Raw CAMs are stored; the normalisation that turns them into regression targets is the
explicit step :func:`build_targets` (docs/pipeline.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from agcl.cam import minmax_normalize
from agcl.errors import InputError
from agcl.io import atomic_path, write_with_atomic
from agcl.labels import LABEL_INDEX, NUM_LABELS
from agcl.pipeline.seeds import SEED_COLUMNS

SEEDS_CSV = "seeds.csv"
SEED_MAPS = "seed_maps.npy"


def write_seeds(out_dir: Path, seeds: pd.DataFrame, maps: np.ndarray) -> None:
    """Write seeds.csv and seed_maps.npy atomically.

    Shapes: maps [M,h,w] float (stored float16), M == len(seeds).
    """
    if len(seeds) != len(maps):
        raise ValueError(f"{len(seeds)} seeds but {len(maps)} maps")
    write_with_atomic(Path(out_dir) / SEEDS_CSV, lambda p: seeds[list(SEED_COLUMNS)].to_csv(p, index=False))
    with atomic_path(Path(out_dir) / SEED_MAPS) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(maps, dtype=np.float16))


def read_seeds(stage: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a seed stage's seeds.csv and seed_maps.npy (checked to agree)."""
    from agcl.evaluation.artifacts import read_npy, read_table

    csv, npy = Path(stage) / SEEDS_CSV, Path(stage) / SEED_MAPS
    seeds = read_table(csv, "seeds", {"image_id": str, "label": str, "rule": str})
    maps = read_npy(npy, "seed maps", ndim=3)
    if len(seeds) != len(maps):
        raise InputError(f"{csv}: {len(seeds)} rows but {npy} holds {len(maps)} maps")
    return seeds, maps


def build_targets(seeds: pd.DataFrame, maps: np.ndarray, norm: str = "minmax") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-image regression targets H_c and indicators 1_c of Eq. 4 from the seeds.

    Args:
        seeds: seeds.csv rows.
        maps: their raw CAMs.
        norm: ``minmax`` maps each seed CAM to [0,1] on its own (the regression target then encodes
            *where* attention is, not how strong the source network's logit scale was — raw scales
            differ between the binary networks of different diseases); ``none`` keeps raw CAMs.

    Returns:
        ``{image_id: (target [14,h,w] float32, mask [14] float32)}``; mask[c] = 1 iff the image is a
        seed of class c (the 1_c of Eq. 4).

    Shapes: maps [M,h,w] -> target [14,h,w] float32, mask [14] float32 in {0,1}.
    """
    if norm not in ("minmax", "none"):
        raise ValueError(f"unknown target normalisation {norm!r}")
    maps = np.asarray(maps, dtype=np.float32)
    if norm == "minmax" and len(maps):
        maps = minmax_normalize(maps)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not len(seeds):
        return out
    h, w = maps.shape[1:]
    for i, (image_id, label) in enumerate(zip(seeds["image_id"].astype(str), seeds["label"], strict=True)):
        if image_id not in out:
            out[image_id] = (np.zeros((NUM_LABELS, h, w), np.float32), np.zeros(NUM_LABELS, np.float32))
        target, mask = out[image_id]
        c = LABEL_INDEX[label]
        target[c] = maps[i]
        mask[c] = 1.0
    return out


def seed_counts(seeds: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Seeds per label and rule (S1/S2/AGL, then any other rule present) with the total, one row per
    label (zeros included)."""
    table = pd.crosstab(seeds["label"], seeds["rule"]) if len(seeds) else pd.DataFrame()
    table = table.reindex(index=labels, fill_value=0).fillna(0).astype(int)
    for rule in ("S1", "S2", "AGL"):
        if rule not in table.columns:
            table[rule] = 0
    table = table[["S1", "S2", "AGL"] + sorted(c for c in table.columns if c not in ("S1", "S2", "AGL"))]
    table["total"] = table.sum(axis=1)
    table.index.name = "label"
    return table.reset_index()
