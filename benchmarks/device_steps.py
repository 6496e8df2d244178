"""Training-step measurements on one device for ``gpu_check.py``: throughput and peak memory of the
baseline step, the largest batch that fits, and the numerics of mixed precision against fp32.

Every step runs through the training loop's own :func:`agcl.train.epoch.train_one_epoch` on batches
already on the device (the loader is measured separately), with a random-init network (``pretrained:
none``: no ImageNet weights needed; weights do not change the cost).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
from bench_step import make_batches  # noqa: E402

from agcl.config import OptimConfig  # noqa: E402
from agcl.models import build_model  # noqa: E402
from agcl.train.device import RuntimeEnv  # noqa: E402
from agcl.train.epoch import train_one_epoch  # noqa: E402
from agcl.train.losses import masked_bce  # noqa: E402
from agcl.train.optim import build_optimizer  # noqa: E402

GIB = 2.0**30


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _loss(out, batch):
    return masked_bce(out, batch["labels"])


def baseline_net(env: RuntimeEnv, backbone: str, size: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The multi-label network (§2.1) on ``env``'s device and layout, with its SGD optimizer."""
    model = build_model({"kind": "multilabel", "backbone": backbone, "image_size": size}, pretrained="none", seed=0)
    model.to(env.device, memory_format=torch.channels_last if env.channels_last else torch.preserve_format)
    return model, build_optimizer(model, OptimConfig())


def step_throughput(env: RuntimeEnv, backbone: str, size: int, batch: int, warmup: int, steps: int) -> dict:
    """Images/s and peak memory of the baseline training step (forward + loss + backward + SGD)."""
    model, opt = baseline_net(env, backbone, size)
    data = [{k: v.to(env.device) for k, v in b.items()} for b in make_batches(1, batch, size, 1)]
    scaler = env.grad_scaler()
    train_one_epoch(model, _loss, data * warmup, opt, scaler, env)  # cuDNN autotuning, allocator
    _sync(env.device)
    if env.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(env.device)
    t0 = time.perf_counter()
    sums, _, _ = train_one_epoch(model, _loss, data * steps, opt, scaler, env)
    _sync(env.device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(env.device) / GIB if env.device.type == "cuda" else None
    return {"batch": batch, "steps": steps, "warmup_steps": warmup, "s_per_step": round(seconds / steps, 5),
            "img_per_s": round(batch * steps / seconds, 1), "peak_memory_gib": None if peak is None else round(peak, 2),
            "loss_finite": bool(torch.isfinite(torch.tensor(sums["loss"])))}


def _fits(env: RuntimeEnv, model: torch.nn.Module, opt: torch.optim.Optimizer, size: int, batch: int) -> tuple[bool, str]:
    """One training step at ``batch``; (False, reason) when the device runs out of memory."""
    reason = ""
    try:
        data = [{"image": torch.rand(batch, 1, size, size, device=env.device),
                 "labels": torch.zeros(batch, 14, device=env.device)}]
        train_one_epoch(model, _loss, data, opt, env.grad_scaler(), env)
        _sync(env.device)
    except torch.cuda.OutOfMemoryError:
        reason = "out of memory"
    except RuntimeError as exc:  # cuDNN/cuBLAS allocation failures, 32-bit index limits of huge tensors
        reason = str(exc).strip().splitlines()[0][:200]
    data = None  # noqa: F841 - release the batch before emptying the cache
    opt.zero_grad(set_to_none=True)
    gc.collect()
    if env.device.type == "cuda":
        torch.cuda.empty_cache()
    return not reason, reason


def search_largest(fits: Callable[[int], tuple[bool, str]], *, start: int, cap: int, granularity: int,
                   time_left: Callable[[], float]) -> dict:
    """The largest ``b`` with ``fits(b)``: doubling from ``start`` up to ``cap``, then bisection between the
    last fitting and the first failing batch down to ``granularity`` (multiples of it).

    Returns ``largest_batch`` (0 when even ``start`` fails), ``first_failing`` (None when nothing failed),
    ``capped`` (``cap`` still fits), ``exact`` (failing and fitting within ``granularity``) and ``probes``.
    """
    probes: list[dict] = []

    def probe(b: int) -> bool:
        ok, why = fits(b)
        probes.append({"batch": b, "fits": ok, **({"reason": why} if why else {})})
        return ok

    ok, bad, b = 0, None, start
    while b <= cap and time_left() > 0:
        if not probe(b):
            bad = b
            break
        ok, b = b, b * 2
    while bad is not None and bad - ok > granularity and time_left() > 0:
        mid = max((ok + bad) // 2 // granularity * granularity, ok + granularity)
        ok, bad = (mid, bad) if probe(mid) else (ok, mid)
    return {"largest_batch": ok, "first_failing": bad, "granularity": granularity, "cap": cap,
            "capped": bad is None and ok >= cap, "exact": bad is not None and bad - ok <= granularity,
            "probes": probes}


def largest_batch(env: RuntimeEnv, backbone: str, size: int, *, start: int, cap: int, granularity: int,
                  time_left: Callable[[], float]) -> dict:
    """:func:`search_largest` over one training step of the baseline network on ``env``.

    cuDNN autotuning is off while probing (a new shape per probe would autotune each time).
    """
    net: list = list(baseline_net(env, backbone, size))
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        return search_largest(lambda b: _fits(env, net[0], net[1], size, b), start=start, cap=cap,
                              granularity=granularity, time_left=time_left)
    finally:
        torch.backends.cudnn.benchmark = saved
        net.clear()  # free the network and its optimizer state before the next configuration
        gc.collect()
        if env.device.type == "cuda":
            torch.cuda.empty_cache()


@torch.inference_mode()
def amp_numerics(model: torch.nn.Module, images: torch.Tensor) -> dict:
    """The same batch's logits, probabilities and CAMs under autocast against fp32.

    ``inference`` = the stages' and ``agcl predict``'s path (backbone under autocast, head and CAM in
    fp32 from the same features, :func:`agcl.models.forward_with_cams`); ``training`` = the loop's
    path (the whole forward under autocast). Shapes: images [B,1,S,S] in [0,1] on the model's device.
    """
    model.eval()
    device = images.device
    feats = model.forward_features(images).float()
    ref = {"logits": model.forward_head(feats), "cams": model.cam(feats)}
    ref["probs"] = model.probabilities(ref["logits"])
    dtypes = {"bf16": torch.bfloat16} | ({"fp16": torch.float16} if device.type == "cuda" else {})
    out: dict = {"batch": int(images.shape[0]), "cam_shape": list(ref["cams"].shape),
                 "fp32_max_abs": {k: float(v.abs().max()) for k, v in ref.items()}}
    for name, dtype in dtypes.items():
        with torch.autocast(device.type, dtype=dtype):
            f = model.forward_features(images)
            train_logits = model(images)
        f = f.float()
        got = {"logits": model.forward_head(f), "cams": model.cam(f)}
        got["probs"] = model.probabilities(got["logits"])
        diffs = {k: float((got[k] - ref[k]).abs().max()) for k in ref}
        out[name] = {
            "inference_max_abs_diff": diffs,
            "inference_rel_diff": {k: diffs[k] / max(out["fp32_max_abs"][k], 1e-12) for k in ref},
            "training_logits_max_abs_diff": float((train_logits.float() - ref["logits"]).abs().max()),
            "finite": all(bool(torch.isfinite(v).all()) for v in got.values()),
        }
    return out
