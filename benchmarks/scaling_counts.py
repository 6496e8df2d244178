"""Images each stage of the paper recipe processes on ChestX-ray14 (docs/scaling.md); prints JSON.

    python benchmarks/scaling_counts.py ../shared/data/nih-cxr14 [--config configs/nih-cxr14.yaml]

Reads the real metadata and official split lists with agcl's own index code (the patient-level val
carve included) and the recipe from the config. Counts are images per epoch (training) or per pass
(inference); the epoch counts the wall-clock plan multiplies them by are in docs/scaling.md.
Curriculum: one binary net per disease with at least ``curriculum.min_positives`` training positives,
trained on its positives + as many "No Finding" negatives; its validation set likewise. Without a
severity table every positive is in the one curriculum stage, which is the upper bound per epoch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agcl.data.nih import read_nih_tables
from agcl.labels import LABELS
from agcl.pipeline.driver import load_pipeline_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("nih_dir", type=Path)
    ap.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "nih-cxr14.yaml")
    args = ap.parse_args()
    cfg = load_pipeline_config(args.config)
    images, _, _ = read_nih_tables(args.nih_dir)
    split = images["split"].value_counts().to_dict()
    counts = {}
    for s in ("train", "val", "test"):
        part = images[images["split"] == s]
        counts[s] = {"images": int(len(part)), "no_finding": int((part[list(LABELS)].sum(axis=1) == 0).sum()),
                     "positives": {c: int(part[c].sum()) for c in LABELS}}
    pos, vpos = counts["train"]["positives"], counts["val"]["positives"]
    nets = [c for c in LABELS if pos[c] >= cfg.curriculum.min_positives]
    cur_train = sum(2 * pos[c] for c in nets)  # positives + balanced negatives, per epoch, all nets
    cur_val = sum(2 * vpos[c] for c in nets)
    seeds_pass = sum(pos[c] for c in nets) + cur_val  # S2 scores on train positives + t chosen on val
    print(json.dumps({
        "split": split, "counts": counts, "config": str(args.config),
        "bsl": {"train_per_epoch": counts["train"]["images"], "val_per_epoch": counts["val"]["images"],
                "max_epochs": cfg.optim.max_epochs},
        "curriculum_per_round": {"nets": len(nets), "train_per_epoch_all_nets": cur_train,
                                 "val_per_epoch_all_nets": cur_val,
                                 "max_epochs_per_stage": cfg.curriculum.max_epochs_per_stage,
                                 "largest_net_train_per_epoch": max(2 * pos[c] for c in nets)},
        "seeds_per_round": {"images_scored": seeds_pass},
        "two_path_per_round": {"train_per_epoch": counts["train"]["images"], "val_per_epoch": counts["val"]["images"]},
        "rounds_k": cfg.refine.rounds, "agl": cfg.refine.agl,
        "test_inference_per_model": counts["test"]["images"],
        "models_evaluated": 2 + cfg.refine.rounds if cfg.refine.agl else 1 + cfg.refine.rounds,
        "cache_bytes_uint8": int(len(images)) * cfg.data.image_size ** 2,
    }, indent=1))


if __name__ == "__main__":
    main()
