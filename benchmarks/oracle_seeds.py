"""Oracle seeds — for study harnesses ONLY, never a method: the truth boxes of TRAINING images painted
onto the feature grid, written as a seed stage in exactly the format the harvest stages write.

A study asks "if the seeds were perfect, would the heatmaps that are harvested and evaluated get
better?" (e.g. ``model.regression: separate`` vs ``tied``). This script answers the "perfect seeds"
part from a lesion truth table (the phantom's ``truth/lesions.csv``: ``image_id,label,severity,x0,y0,
x1,y1`` in original pixels). It lives outside the ``agcl`` package on purpose: no pipeline stage or
shipped config imports it (tests/pipeline/test_oracle_seeds.py checks), and the pipeline itself reads
truth boxes (``source.truth_boxes``) for seed diagnostics only.

Map of one (image, class) seed: for every feature cell, the fraction of its area covered by the
class's truth boxes (the largest over the boxes when several), in the frame the raw CAMs — and so the
regression targets of Eq. 2 — are on: feature cell ``j`` spans ``j·stride + cell_centre ± stride/2``
input pixels (:func:`agcl.models.backbones.feature_geometry`, :mod:`agcl.cam.align`); boxes go from
original pixels to the S×S cache frame like every box (``x·S/width``).

Rules: only lesions of the chosen severities (default severe + moderate, the paper's S1 grades) and
only images of the index's training split; rows of validation/test images or of images outside the
index are dropped and counted in ``provenance.json`` (``rule: "oracle"``). seeds.csv rows carry
``rule = oracle``, ``iteration = 1`` and no probability.

    python benchmarks/oracle_seeds.py --config configs/demo.yaml --set data.index_dir=IDX \\
        --lesions PHANTOM/truth/lesions.csv --out RUN/stage_seeds_oracle [--severity severe,moderate]

then train on them with the refine stage, e.g. ``agcl.pipeline.refine.run_refine(ctx, sdir, "oracle",
RUN/stage_seeds_oracle, RUN/stage_bsl/checkpoint.pt)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agcl.errors import InputError  # noqa: E402
from agcl.labels import LABELS, UnknownLabelError, canonical_label  # noqa: E402

ORACLE_RULE = "oracle"
DEFAULT_SEVERITIES = ("severe", "moderate")
LESION_COLUMNS = ("image_id", "label", "severity", "x0", "y0", "x1", "y1")


def box_coverage(boxes: np.ndarray, grid: tuple[int, int], stride: float, cell_centre: float) -> np.ndarray:
    """Fraction of each feature cell's area inside the boxes (the largest over the boxes).

    Args:
        boxes: xyxy in input (S×S cache) pixel-edge coordinates.
        grid: ``(h, w)`` of the feature grid.
        stride, cell_centre: feature cell ``j`` spans ``[j·stride + cell_centre − stride/2, … + stride/2)``.

    Shapes: boxes [n,4] -> [h,w] float32 in [0,1] (zeros for n = 0).
    """
    h, w = grid
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((h, w), np.float32)

    def overlap(n: int, lo_edge: np.ndarray, hi_edge: np.ndarray) -> np.ndarray:  # [boxes, n] fraction per axis
        lo = np.arange(n) * stride + cell_centre - stride / 2
        return np.clip(np.minimum(lo + stride, hi_edge[:, None]) - np.maximum(lo, lo_edge[:, None]), 0, None) / stride

    ox, oy = overlap(w, boxes[:, 0], boxes[:, 2]), overlap(h, boxes[:, 1], boxes[:, 3])
    return (oy[:, :, None] * ox[:, None, :]).max(axis=0).astype(np.float32)


def read_lesions(path: Path) -> pd.DataFrame:
    """Read a lesion truth table ``image_id,label,severity,x0,y0,x1,y1`` (original pixels; labels canonicalised).

    Raises:
        InputError: unreadable file, missing column, unknown label or non-numeric coordinate (naming the row).
    """
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "label": str, "severity": str}, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read lesions {path}: {exc}") from None
    missing = [c for c in LESION_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"lesion table {path} lacks column(s) {missing}; expected {','.join(LESION_COLUMNS)}")
    df = df[list(LESION_COLUMNS)].copy()
    try:
        df["label"] = [canonical_label(lab, where=f"{path} row {i + 2}") for i, lab in enumerate(df["label"])]
    except UnknownLabelError as exc:
        raise InputError(str(exc)) from None
    coords = df[["x0", "y0", "x1", "y1"]].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(coords.to_numpy(np.float64)).all(axis=1)
    if bad.any():
        raise InputError(f"{path} row {int(np.flatnonzero(bad)[0]) + 2}: box coordinates are not numbers")
    df[["x0", "y0", "x1", "y1"]] = coords
    return df


def oracle_seeds(lesions: pd.DataFrame, splits: pd.Series, sizes: Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]],
                 image_size: int, grid: tuple[int, int], geometry: tuple[int, float],
                 severities: Sequence[str] = DEFAULT_SEVERITIES) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Seeds (seeds.csv rows), seed maps and provenance from truth boxes of training images (pure).

    Args:
        lesions: from :func:`read_lesions`.
        splits: image id -> split (``train``/``val``/``test``) of every image of the index.
        sizes: image ids -> (widths, heights) of the original images (the frame of the boxes).
        image_size: side S of the cache images the network sees.
        grid: ``(h, w)`` of the network's feature grid at S.
        geometry: ``(stride, cell_centre)`` of that grid.
        severities: lesion severities that make seeds.

    Returns:
        ``(seeds, maps, provenance)``; seeds sorted by label then image id like every seed stage.

    Shapes: maps [M,h,w] float32 in [0,1], row i = seeds row i.
    """
    from agcl.pipeline.seeds import SEED_COLUMNS, sort_seeds

    les = lesions[lesions["severity"].isin(list(severities))]
    split = les["image_id"].astype(str).map(splits)
    dropped = {"not_in_index": int(split.isna().sum()),
               "val": int((split == "val").sum()), "test": int((split == "test").sum())}
    les = les[split == "train"]
    keys = sorted(set(zip(les["label"], les["image_id"].astype(str), strict=True)), key=lambda k: (k[0], k[1]))
    seeds = sort_seeds(pd.DataFrame({"image_id": [k[1] for k in keys], "label": [k[0] for k in keys],
                                     "rule": ORACLE_RULE, "iteration": 1, "prob": np.nan}, columns=list(SEED_COLUMNS)))
    maps = np.zeros((len(seeds), *grid), np.float32)
    if len(seeds):
        widths, heights = sizes(list(seeds["image_id"]))
        groups = les.groupby([les["label"], les["image_id"].astype(str)])
        for i, (iid, lab) in enumerate(zip(seeds["image_id"], seeds["label"], strict=True)):
            b = groups.get_group((lab, iid))[["x0", "y0", "x1", "y1"]].to_numpy(np.float64)
            b = b * np.array([image_size / widths[i], image_size / heights[i]] * 2)
            maps[i] = box_coverage(b, grid, *geometry)
    per_label = seeds["label"].value_counts()
    provenance = {"round": 0, "source": "truth boxes (oracle)", "rule": ORACLE_RULE, "severities": list(severities),
                  "image_size": image_size, "grid": list(grid), "stride": geometry[0], "cell_centre": geometry[1],
                  "dropped_rows": dropped, "map": "feature-cell coverage fraction of the class's truth boxes",
                  "labels": {lab: {"seeds": int(per_label.get(lab, 0))} for lab in LABELS}}
    return seeds, maps, provenance


def write_oracle_stage(out: Path, seeds: pd.DataFrame, maps: np.ndarray, provenance: dict,
                       index_fingerprint: str | None) -> None:
    """seeds.csv, seed_maps.npy, counts.csv, provenance.json and DONE (last), as a harvest stage writes them."""
    from agcl.io import write_json_atomic, write_with_atomic
    from agcl.pipeline.seedmaps import seed_counts, write_seeds
    from agcl.pipeline.stages import mark_done

    out.mkdir(parents=True, exist_ok=True)
    write_seeds(out, seeds, maps)
    counts = seed_counts(seeds, list(LABELS))
    write_with_atomic(out / "counts.csv", lambda p: counts.to_csv(p, index=False))
    write_json_atomic(out / "provenance.json", provenance)
    mark_done(out, {"seeds": int(len(seeds)), "rule": ORACLE_RULE, "index_fingerprint": index_fingerprint})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None, help="pipeline config (index, image size, backbone)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override KEY=VALUE")
    ap.add_argument("--lesions", required=True, type=Path, help="truth table image_id,label,severity,x0,y0,x1,y1")
    ap.add_argument("--out", required=True, type=Path, help="seed stage folder to write (refused if finished)")
    ap.add_argument("--severity", default=",".join(DEFAULT_SEVERITIES), help="comma-separated severities")
    args = ap.parse_args(argv)

    import torch

    from agcl.errors import AgclError
    from agcl.models import build_model
    from agcl.pipeline.driver import load_pipeline_config, make_context
    from agcl.pipeline.stages import is_done

    try:
        if is_done(args.out):
            raise InputError(f"{args.out} already holds a finished seed stage (DONE); choose another --out")
        ctx = make_context(load_pipeline_config(args.config, args.sets), args.out.resolve().parent)
        net = build_model(ctx.model_spec("multilabel"), pretrained="none")
        size = ctx.cfg.data.image_size
        with torch.no_grad():
            grid = tuple(net.forward_features(torch.zeros(1, 1, size, size)).shape[-2:])
        splits = ctx.images.set_index(ctx.images["image_id"].astype(str))["split"]
        seeds, maps, prov = oracle_seeds(read_lesions(args.lesions), splits, ctx.source_sizes, size, grid,
                                         ctx.feature_geometry(), [s for s in args.severity.split(",") if s])
        prov["lesions"] = str(args.lesions)
        write_oracle_stage(args.out, seeds, maps, prov, ctx.index.fingerprint)
    except AgclError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": str(args.out), "seeds": len(seeds), "dropped_rows": prov["dropped_rows"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
