"""Pure statistics of the premise study (benchmarks/premise_study.py) that the product does not need: seed
quality per source. The per-image counts and the paired bootstrap are the product's own
(:mod:`agcl.evaluation.paired`, shared with `agcl compare`).

Nothing here reads or writes files; the study script loads a run directory and passes DataFrames/arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agcl.cam.align import align_to_image
from agcl.evaluation.localization import pointing_game
from agcl.pipeline.diagnostics import seed_box_iobb

SOURCES = ("AGL", "S1 severe", "S1 moderate", "S2")


def seed_sources(seeds: pd.DataFrame, severity: pd.DataFrame | None) -> pd.Series:
    """Source of each seeds.csv row: ``AGL``, ``S1 <grade>`` (grade from the mined severity table) or ``S2``.

    Args:
        seeds: ``image_id,label,rule,...`` rows (rule S1 | S2 | AGL).
        severity: ``image_id,label,status,severity`` (the table the run used) or None.
    """
    grade = pd.Series("none", index=seeds.index, dtype=object)
    if severity is not None and len(severity):
        pos = severity[severity["status"] == "positive"]
        rank = {"severe": 3, "moderate": 2, "mild": 1, "none": 0}
        best = (pos.assign(r=pos["severity"].map(rank)).sort_values("r")
                .drop_duplicates(["image_id", "label"], keep="last").set_index(["image_id", "label"])["severity"])
        keys = pd.MultiIndex.from_arrays([seeds["image_id"].astype(str), seeds["label"]])
        grade = pd.Series(best.reindex(keys).fillna("none").to_numpy(), index=seeds.index)
    rule = seeds["rule"].astype(str)
    return pd.Series(np.where(rule == "S1", "S1 " + grade.astype(str), rule), index=seeds.index)


def seed_quality(seeds: pd.DataFrame, maps: np.ndarray, truth: pd.DataFrame, sizes: pd.DataFrame,
                 severity: pd.DataFrame | None, upsample_size: int, geometry: tuple[int, float] | None,
                 t: float = 0.25) -> pd.DataFrame:
    """Per source: seeds, seeds with a truth box, mean IoBB of the seed's cam20 box, IoBB > t rate, and
    the pointing game of the seed map (its argmax inside a truth box of that image and class).

    Uses the pipeline's own seed diagnostic (:func:`agcl.pipeline.diagnostics.seed_box_iobb`) and the
    evaluation's :func:`agcl.evaluation.localization.pointing_game`. The cam20 box of a broad map is close
    to the whole image, so its IoBB tends to the lesion's share of the image whatever the map; pointing
    does not depend on a threshold. ``geometry`` is the backbone's ``(stride, cell_centre)`` (seed maps sit
    on the feature grid), None for image-frame maps.
    Shapes: maps [M,h,w] aligned with ``seeds`` rows; sizes ``image_id,width,height``.
    """
    wh = sizes.set_index("image_id").reindex(seeds["image_id"].astype(str))
    widths, heights = wh["width"].to_numpy(float), wh["height"].to_numpy(float)
    scores = seed_box_iobb(seeds, maps, truth, widths, heights, upsample_size, geometry)
    framed = align_to_image(np.asarray(maps, np.float32), upsample_size, *geometry) if geometry else np.asarray(maps)
    df = pd.DataFrame({"source": seed_sources(seeds, severity).to_numpy(), "iobb": scores})
    pairs = seeds.assign(image_id=seeds["image_id"].astype(str))[["image_id", "label"]]
    gt = truth.assign(image_id=truth["image_id"].astype(str))
    rows = []
    for src in sorted(df["source"].unique(), key=lambda s: (SOURCES.index(s) if s in SOURCES else 99, s)):
        mask = (df["source"] == src).to_numpy()
        scored = df.loc[mask, "iobb"].dropna()
        labels = sorted(pairs.loc[mask, "label"].unique())
        total = pointing_game(framed[mask], pairs[mask].reset_index(drop=True), gt, widths[mask], heights[mask],
                              labels).iloc[-1]
        rows.append({"source": src, "seeds": int(mask.sum()), "with_truth": len(scored),
                     "mean_iobb": float(scored.mean()) if len(scored) else float("nan"),
                     "hit_rate": float((scored > t).mean()) if len(scored) else float("nan"),
                     "pointing": float(total["accuracy"])})
    return pd.DataFrame(rows)
