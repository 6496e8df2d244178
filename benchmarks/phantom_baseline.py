"""Quick, self-contained difficulty check of a phantom: a randomly initialised ResNet-18 baseline.

Reads the phantom's NIH files directly (Data_Entry_2017_v2020.csv, split lists, images/) and its truth
folder (for the per-severity and shortcut breakdowns), trains a multi-label ResNet-18 (no ImageNet weights)
on train_val at a small size, and prints JSON: per-class test AUC against the (noisy) Finding Labels,
the mean, AUC of mild / moderate / severe positives against true negatives, and AUC of the shortcut-prone
classes with and without their shortcut. Used to calibrate the phantom (docs/bench/phantom.md).

    python benchmarks/phantom_baseline.py PHANTOM_DIR --size 64 --epochs 5 --threads 2   # CPU, the default
    python benchmarks/phantom_baseline.py PHANTOM_DIR --size 96 --epochs 6 --device cuda
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision
from PIL import Image
from sklearn.metrics import roc_auc_score

LABELS = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
          "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia")
SHORTCUT_OF = {"Pneumothorax": "chest_drain", "Cardiomegaly": "pacemaker", "Edema": "pacemaker"}


def load(root: Path, size: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Image ids, uint8 images [N,S,S], noisy labels [N,14], test mask [N]."""
    entry = pd.read_csv(root / "Data_Entry_2017_v2020.csv")
    test = set((root / "test_list.txt").read_text().splitlines())
    ids = entry["Image Index"].tolist()
    y = np.array([[lab in str(f).split("|") for lab in LABELS] for f in entry["Finding Labels"]], dtype=np.float32)
    x = np.stack([np.asarray(Image.open(root / "images" / i).convert("L").resize((size, size), Image.BILINEAR))
                  for i in ids])
    return ids, x, y, np.array([i in test for i in ids])


def build_model() -> torch.nn.Module:
    net = torchvision.models.resnet18(weights=None, num_classes=len(LABELS))
    net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    return net


def train(x, y, args, device) -> torch.nn.Module:
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    net = build_model().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * int(np.ceil(len(x) / args.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for epoch in range(args.epochs):
        t_epoch = time.time()
        net.train()
        perm = torch.randperm(len(x), generator=g)
        total = 0.0
        for i in range(0, len(x), args.batch):
            idx = perm[i:i + args.batch]
            xb = xt[idx].to(device).float().div(255.0).unsqueeze(1)
            shift = torch.randint(-4, 5, (2,), generator=g)  # small translation augmentation
            xb = torch.roll(xb, shifts=(int(shift[0]), int(shift[1])), dims=(2, 3))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net((xb - 0.5) / 0.25), yt[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(json.dumps({"epoch": epoch, "loss": round(total / len(x), 4),
                          "seconds": round(time.time() - t_epoch, 1)}), flush=True)
    return net


@torch.no_grad()
def predict(net, x, device, batch: int = 256) -> np.ndarray:
    net.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i:i + batch]).to(device).float().div(255.0).unsqueeze(1)
        out.append(torch.sigmoid(net((xb - 0.5) / 0.25)).cpu().numpy())
    return np.concatenate(out)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def breakdown(root: Path, ids: list[str], p: np.ndarray) -> dict:
    """Per-severity AUC (positives of one severity vs true negatives) and shortcut splits, from truth/."""
    les = pd.read_csv(root / "truth" / "lesions.csv")
    sc = pd.read_csv(root / "truth" / "shortcuts.csv")
    row = {i: k for k, i in enumerate(ids)}
    out: dict = {}
    for sev in ("mild", "moderate", "severe"):
        vals = []
        for c, lab in enumerate(LABELS):
            pos = les[(les.label == lab)]
            neg = np.ones(len(ids), bool)
            neg[[row[i] for i in pos.image_id if i in row]] = False
            sel = [row[i] for i in pos[pos.severity == sev].image_id if i in row]
            if len(sel) >= 3 and neg.sum() >= 3:
                yy = np.r_[np.ones(len(sel)), np.zeros(neg.sum())]
                vals.append(auc(yy, np.r_[p[sel, c], p[neg, c]]))
        out[f"auc_{sev}"] = round(float(np.nanmean(vals)), 4) if vals else None
    for lab, short in SHORTCUT_OF.items():
        c = LABELS.index(lab)
        has = set(sc[sc.shortcut == short].image_id)
        pos = set(les[les.label == lab].image_id)
        neg = np.array([i not in pos for i in ids])
        for flag in (True, False):
            sel = [row[i] for i in pos if i in row and ((i in has) == flag)]
            if len(sel) >= 3:
                yy = np.r_[np.ones(len(sel)), np.zeros(neg.sum())]
                out[f"{lab}_{'with' if flag else 'without'}_{short}"] = round(auc(yy, np.r_[p[sel, c], p[neg, c]]), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("phantom", type=Path)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    ids, x, y, test = load(args.phantom, args.size)
    t_load = time.time() - t0
    net = train(x[~test], y[~test], args, torch.device(args.device))
    p = np.zeros((len(ids), len(LABELS)), np.float32)
    p[test] = predict(net, x[test], torch.device(args.device))
    per_class = {lab: round(auc(y[test, c], p[test, c]), 4) for c, lab in enumerate(LABELS)}
    test_ids = [i for i, t in zip(ids, test, strict=True) if t]
    result = {
        "phantom": str(args.phantom), "size": args.size, "epochs": args.epochs, "threads": args.threads,
        "device": args.device, "n_train": int((~test).sum()), "n_test": int(test.sum()),
        "auc": per_class, "mean_auc": round(float(np.nanmean(list(per_class.values()))), 4),
        **breakdown(args.phantom, test_ids, p[test]),
        "seconds_load": round(t_load, 1), "seconds_total": round(time.time() - t0, 1),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
