"""Training-step cost of the two-path network (AGCL §2.3, Eq. 4) vs the baseline (§2.1), side by side.

Every network shares the backbone, resolution and batch; each step = forward + loss + backward + SGD
step through the same loop code (:func:`agcl.train.epoch.train_one_epoch`). Rounds alternate
baseline / two-path (``--regression separate,tied``: one network per regression-path design, all in
the same rounds) to cancel drift and noise; the medians of per-step times are reported.

    python benchmarks/bench_step.py                                   # CPU, resnet18, 128 px, batch 16
    python benchmarks/bench_step.py --device cuda --backbone resnet50 --size 512 --batch 32 --amp bf16

Prints one JSON object: seconds per step, images/s, CPU seconds per image (process time, which a
loaded machine inflates far less than wall time) and the ratio two_path / baseline (target ≤ 1.10);
``two_path_*`` keys are the first design of ``--regression`` (``separate``), ``<design>_*`` keys
every design.

    python benchmarks/bench_step.py --channels-last-ab tiny,resnet18,resnet50,timm:tf_efficientnet_lite0 \
        --size 128 --batch 32

instead measures the baseline training step with and without channels_last, alternating per round, for
each backbone (``timm:NAME``: a bare timm model, 1 input channel, 14 outputs, BCE + SGD, for backbones
agcl does not ship), and prints one JSON object per backbone; this chose ``runtime.channels_last: auto``
on CPU (see :data:`agcl.train.device.CPU_CHANNELS_LAST`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from agcl.config import OptimConfig, RuntimeConfig  # noqa: E402
from agcl.models import build_model  # noqa: E402
from agcl.train.device import setup_runtime  # noqa: E402
from agcl.train.epoch import train_one_epoch  # noqa: E402
from agcl.train.loop import MethodEntry  # noqa: E402
from agcl.train.losses import masked_bce, two_path_loss  # noqa: E402
from agcl.train.optim import build_optimizer  # noqa: E402


def make_batches(n: int, batch: int, size: int, h: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        out.append({
            "image": torch.rand(batch, 1, size, size, generator=g),
            "labels": (torch.rand(batch, 14, generator=g) < 0.2).float(),
            "target": torch.rand(batch, 14, h, h, generator=g),
            "target_mask": (torch.rand(batch, 14, generator=g) < 0.3).float(),
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--amp", default="auto", choices=["auto", "none", "bf16", "fp16"])
    ap.add_argument("--channels-last", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--rounds", type=int, default=5, help="alternating measurement rounds per network")
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per round")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--channels-last-ab", default="", help="comma-separated backbones: channels_last on vs off")
    ap.add_argument("--regression", default="separate,tied", help="comma-separated two-path designs to time")
    args = ap.parse_args()
    if args.channels_last_ab:
        for backbone in args.channels_last_ab.split(","):
            print(json.dumps(channels_last_ab(backbone, args)), flush=True)
        return

    rt = RuntimeConfig(device=args.device, amp=args.amp, channels_last=args.channels_last,
                       deterministic=False, num_threads=args.threads)
    env = setup_runtime(rt)
    designs = tuple(d for d in args.regression.split(",") if d)
    print(json.dumps(two_path_ratio(env, args.backbone, args.size, args.batch, args.rounds, args.steps, designs),
                     indent=2))


def two_path_ratio(env, backbone: str, size: int, batch: int, rounds: int, steps: int,
                   designs: tuple[str, ...] = ("separate", "tied")) -> dict:
    """Baseline vs two-path training step on ``env`` (alternating rounds, medians); the JSON of this script.

    One two-path network per regression-path design (``model.regression``); ``two_path_*`` keys are the
    first design's. The batches are made on the host and moved by the loop (as in training); round 0
    warms up.
    """
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    nets, losses = {}, {}
    for name in ("multilabel", *designs):
        spec = {"kind": "multilabel" if name == "multilabel" else "two_path", "backbone": backbone, "image_size": size}
        if name != "multilabel":
            spec["regression"] = name
        model = build_model(spec, pretrained="none", seed=0)
        model.to(env.device, memory_format=torch.channels_last if env.channels_last else torch.preserve_format)
        nets[name] = model if name == "multilabel" else MethodEntry(model, "forward_train")
        losses[name] = (lambda out, b: masked_bce(out, b["labels"])) if name == "multilabel" else (
            lambda out, b: two_path_loss(out["logits"], out["heatmaps"], b["labels"], None, b["target"], b["target_mask"]))
    with torch.no_grad():
        h = nets["multilabel"].forward_features(torch.zeros(1, 1, size, size, device=env.device)).shape[-1]
    batches = make_batches(steps, batch, size, h)
    opts = {k: build_optimizer(m, OptimConfig()) for k, m in nets.items()}
    scaler = env.grad_scaler()
    times: dict[str, list[float]] = {k: [] for k in nets}
    cpu: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(rounds + 1):  # round 0 warms up (allocator, cuDNN, lazy imports)
        for kind, model in nets.items():
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            train_one_epoch(model, losses[kind], batches, opts[kind], scaler, env)
            sync()
            if r > 0:
                times[kind].append((time.perf_counter() - t0) / steps)
                cpu[kind].append((time.process_time() - c0) / (steps * batch))
    med = {k: statistics.median(v) for k, v in times.items()}
    base, two = med["multilabel"], med[designs[0]]
    per_design = {}
    for d in designs:
        per_design.update({f"{d}_s_per_step": round(med[d], 5), f"{d}_img_per_s": round(batch / med[d], 2),
                           f"ratio_{d}_over_baseline": round(med[d] / base, 4),
                           f"{d}_cpu_s_per_img": round(statistics.median(cpu[d]), 5),
                           f"{d}_all_s": [round(t, 5) for t in times[d]]})
    return {
        "backbone": backbone, "size": size, "batch": batch, "device": str(env.device),
        "device_name": torch.cuda.get_device_name(env.device) if env.device.type == "cuda" else platform.processor() or platform.machine(),
        "amp": env.amp_name, "channels_last": env.channels_last, "threads": torch.get_num_threads(),
        "rounds": rounds, "steps_per_round": steps, "feature_hw": h, "designs": list(designs),
        "baseline_s_per_step": round(base, 5), "two_path_s_per_step": round(two, 5),
        "baseline_img_per_s": round(batch / base, 2), "two_path_img_per_s": round(batch / two, 2),
        "ratio_two_path_over_baseline": round(two / base, 4),
        "baseline_cpu_s_per_img": round(statistics.median(cpu["multilabel"]), 5),
        "two_path_cpu_s_per_img": round(statistics.median(cpu[designs[0]]), 5),
        "baseline_all_s": [round(t, 5) for t in times["multilabel"]],
        "two_path_all_s": [round(t, 5) for t in times[designs[0]]], **per_design,
        "torch": torch.__version__, "cpu_count": os.cpu_count(),
    }


def channels_last_ab(backbone: str, args) -> dict:
    """Baseline step with channels_last on and off (CPU, fp32), alternating rounds; medians reported."""
    from agcl.train.device import RuntimeEnv

    if args.threads:
        torch.set_num_threads(args.threads)
    if backbone.startswith("timm:"):
        import timm

        model = timm.create_model(backbone[5:], pretrained=False, in_chans=1, num_classes=14)
        envs = {"on": RuntimeEnv(torch.device("cpu"), channels_last=True),
                "off": RuntimeEnv(torch.device("cpu"), channels_last=False)}
        fwd = {k: model for k in envs}
    else:
        envs = {k: RuntimeEnv(torch.device("cpu"), channels_last=k == "on") for k in ("on", "off")}
        fwd = {k: build_model({"kind": "multilabel", "backbone": backbone, "image_size": args.size},
                              pretrained="none", seed=0) for k in envs}
    batches = make_batches(args.steps, args.batch, args.size, 1)
    opts = {k: build_optimizer(m, OptimConfig()) for k, m in fwd.items()}
    times: dict[str, list[float]] = {k: [] for k in envs}
    for r in range(args.rounds + 1):
        for k, env in envs.items():
            fwd[k].to(memory_format=torch.channels_last if env.channels_last else torch.contiguous_format)
            t0 = time.perf_counter()
            train_one_epoch(fwd[k], lambda out, b: masked_bce(out, b["labels"]), batches, opts[k], env.grad_scaler(), env)
            if r > 0:
                times[k].append((time.perf_counter() - t0) / args.steps)
    on, off = (statistics.median(times[k]) for k in ("on", "off"))
    return {"benchmark": "channels_last_ab", "backbone": backbone, "size": args.size, "batch": args.batch,
            "threads": torch.get_num_threads(), "rounds": args.rounds, "steps_per_round": args.steps,
            "img_per_s_channels_last": round(args.batch / on, 2), "img_per_s_contiguous": round(args.batch / off, 2),
            "speedup_channels_last": round(off / on, 3), "all_s": {k: [round(v, 4) for v in t] for k, t in times.items()},
            "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "torch": torch.__version__}


if __name__ == "__main__":
    main()
