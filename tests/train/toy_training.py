"""A toy training problem for the loop tests; also runnable as a script (SIGKILL and DDP tests).

    python tests/train/toy_training.py --stage-dir D --run-dir R --out W.pt [--epochs 4] [--batch 8]
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/train/toy_training.py ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

SIZE = 8


class ToyDataset(Dataset):
    """Random grey images whose 14 labels depend on the mean intensity of image quadrants."""

    def __init__(self, n: int, seed: int, delay: float = 0.0) -> None:
        self.delay = delay  # seconds per item, so that a test can kill the process mid-epoch
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 1, SIZE, SIZE, generator=g)
        q = self.x[:, 0, : SIZE // 2, : SIZE // 2].mean(dim=(1, 2))
        w = torch.linspace(0.3, 0.7, 14)
        self.y = (q[:, None] > w[None, :]).float()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        if self.delay:
            time.sleep(self.delay)
        return {"image": self.x[i], "labels": self.y[i], "index": i}


def toy_model(seed: int = 0, *, batchnorm: bool = False, dropout: float = 0.0) -> nn.Module:
    """A small conv net with 14 logits; initialisation drawn from a forked RNG seeded with ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Conv2d(1, 6, 3, padding=1)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(6))
        layers += [nn.ReLU(), nn.Dropout(dropout), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 14)]
        model = nn.Sequential(*layers)
    model.spec = {"kind": "multilabel", "backbone": "toy", "num_classes": 14, "image_size": SIZE}
    return model


def toy_loss(logits: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
    bce = F.binary_cross_entropy_with_logits(logits.float(), batch["labels"])
    reg = logits.float().pow(2).mean()
    return {"loss": bce + 0.01 * reg, "bce": bce, "l2": reg}


def main(argv: list[str] | None = None) -> None:
    from agcl.config import OptimConfig, RuntimeConfig
    from agcl.train.device import setup_runtime
    from agcl.train.distributed import destroy_distributed
    from agcl.train.loop import FitOptions, fit

    ap = argparse.ArgumentParser()
    ap.add_argument("--stage-dir", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--out", required=True, help="where each rank saves its final state_dict (rank suffix)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--num-images", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds per batch (to kill mid-epoch)")
    ap.add_argument("--resume-check", default="", help="DIR: also run (dropout) uninterrupted vs crash+resume there")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runtime = RuntimeConfig(device="cpu", amp="none", seed=3, log_every=1, progress=False)
    optim = OptimConfig(lr=0.5, max_epochs=args.epochs, patience=100, lr_step_epochs=2)
    env = setup_runtime(runtime)
    train = ToyDataset(args.num_images, 1, delay=args.sleep)
    model = toy_model(0, dropout=args.dropout)
    opts = FitOptions(stage="toy", optim=optim, runtime=runtime, batch_size=args.batch, stage_dir=args.stage_dir,
                      run_dir=args.run_dir, config={"toy": True})
    fit(model, toy_loss, train, ToyDataset(24, 2), opts, env=env)
    torch.save(model.state_dict(), f"{args.out}.rank{env.dist.rank}")
    if args.resume_check:
        crash_and_resume(args.resume_check, env, runtime, optim, train, args.batch)
    destroy_distributed()


class Crash(Exception):
    """A simulated kill, raised by every rank at the same batch."""


def crash_and_resume(root: str, env, runtime, optim, train, batch: int) -> None:
    """Uninterrupted fit vs a fit that dies mid-epoch 2 and is resumed (same process group, dropout on).

    Saves ``<root>/{full,resumed}.rank<r>`` state_dicts; run dirs ``<root>/{full,resumed}``.
    """
    from agcl.train.loop import FitOptions, fit

    def run(name: str, loss) -> None:
        model = toy_model(0, dropout=0.3)
        opts = FitOptions(stage="toy", optim=optim, runtime=runtime, batch_size=batch, config={"toy": True},
                          stage_dir=f"{root}/{name}/stage_toy", run_dir=f"{root}/{name}")
        try:
            fit(model, loss, train, ToyDataset(24, 2), opts, env=env)
        except Crash:
            model = toy_model(0, dropout=0.3)
            fit(model, toy_loss, train, ToyDataset(24, 2), opts, env=env)  # same call again → resumes
        torch.save(model.state_dict(), f"{root}/{name}.rank{env.dist.rank}")

    calls = {"n": 0}

    def crashing(logits, b):
        calls["n"] += 1
        # per epoch and rank: train batches + validation batches (eval batch = 2 × batch, unpadded shard)
        per_epoch = len(train) // (batch * env.dist.world_size) + -(-24 // env.dist.world_size // (2 * batch))
        if calls["n"] == 2 * per_epoch + 3:  # the 3rd training batch of epoch 2 (0-based)
            open(f"{root}/crashed.rank{env.dist.rank}", "w").close()
            raise Crash
        return toy_loss(logits, b)

    run("full", toy_loss)
    run("resumed", crashing)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))
    main()
