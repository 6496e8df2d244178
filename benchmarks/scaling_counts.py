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


def lpt_makespan(sizes: list[int], ranks: int) -> int:
    """Largest per-rank load when nets are dealt largest first to the least-loaded rank."""
    loads = [0] * ranks
    for s in sorted(sizes, reverse=True):
        loads[loads.index(min(loads))] += s
    return max(loads)


def plan(c: dict, sizes: list[int], a) -> dict:
    """Wall-clock hours per stage for 1, 4, 8 GPUs from the counts and the given per-GPU rates."""
    out = {}
    for n in (1, 4, 8):
        eff = {1: 1.0, 4: a.eff4, 8: a.eff8}[n]
        train_rate, infer_rate = a.train_img_s * n * eff, a.infer_img_s * n  # DDP; inference split over ranks

        def train(imgs: float, rate: float = train_rate) -> float:
            return imgs / rate

        def infer(imgs: float, rate: float = infer_rate) -> float:
            return imgs / rate

        cur_ddp = a.cur_epochs * (train(c["cur_train"]) + infer(c["cur_val"]))
        cur_split = a.cur_epochs * (lpt_makespan(sizes, n) / a.train_img_s + infer(c["cur_val"]))
        stages = {
            "bsl": a.bsl_epochs * (train(c["train"]) + infer(c["val"])),
            "curriculum_x_k (DDP per net)": c["k"] * cur_ddp,
            "curriculum_x_k (diseases split over ranks)": c["k"] * cur_split,
            "seeds (AGL + k rounds)": infer(c["agl_seeds"] + c["k"] * c["seeds"]),
            "two_path (AGL + k rounds)": c["two_path_runs"] * a.tp_epochs * (
                train(c["train"]) * a.two_path_ratio + infer(c["val"])),
            "test inference": infer(c["models"] * c["test"]),
        }
        best_cur = min(stages["curriculum_x_k (DDP per net)"], stages["curriculum_x_k (diseases split over ranks)"])
        total = sum(v for k, v in stages.items() if not k.startswith("curriculum")) + best_cur
        out[f"{n}_gpu"] = {**{k: round(v / 3600, 2) for k, v in stages.items()}, "total_h": round(total / 3600, 2),
                           "loader_img_s_needed": round(train_rate)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("nih_dir", type=Path)
    ap.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "nih-cxr14.yaml")
    ap.add_argument("--train-img-s", type=float, default=483.0, help="per GPU, training step (H100 bf16 resnet50 512)")
    ap.add_argument("--infer-img-s", type=float, default=1450.0, help="per GPU, forward only (assumed 3x training)")
    ap.add_argument("--two-path-ratio", type=float, default=1.005, help="two-path step / baseline step")
    ap.add_argument("--bsl-epochs", type=int, default=20)
    ap.add_argument("--cur-epochs", type=int, default=10, help="full-size epochs per curriculum round")
    ap.add_argument("--tp-epochs", type=int, default=20)
    ap.add_argument("--eff4", type=float, default=0.9, help="assumed DDP scaling efficiency, 4 GPUs")
    ap.add_argument("--eff8", type=float, default=0.85, help="assumed DDP scaling efficiency, 8 GPUs")
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
    train_any = int((images[images["split"] == "train"][list(LABELS)].sum(axis=1) > 0).sum())
    c = {"train": counts["train"]["images"], "val": counts["val"]["images"], "test": counts["test"]["images"],
         "cur_train": cur_train, "cur_val": cur_val, "seeds": seeds_pass, "k": cfg.refine.rounds,
         "agl_seeds": train_any + counts["val"]["images"], "two_path_runs": cfg.refine.rounds + int(cfg.refine.agl),
         "models": 2 + cfg.refine.rounds if cfg.refine.agl else 1 + cfg.refine.rounds}
    print(json.dumps({
        "plan_assumptions": {k: v for k, v in vars(args).items() if k not in ("nih_dir", "config")},
        "plan_hours": plan(c, [2 * pos[n] for n in nets], args),
        "agl_seed_images": c["agl_seeds"],
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
