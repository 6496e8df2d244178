"""The parts of ``gpu_check.py``: each takes the check's context and returns the figures it measured.

Context keys: ``mode`` (gpu | cpu-smoke), ``sizes`` (``gpu_check.MODES[mode]``), ``device``, ``work``
(scratch folder), ``budget`` (``gpu_check.Budget``), ``report`` (the document so far: later parts read
earlier figures, e.g. the loader compares itself with the step's img/s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from bench_step import two_path_ratio
from device_steps import amp_numerics, largest_batch, step_throughput
from loader_bench import PhantomData, loader_throughput, phantom_data, training_dataset

from agcl.labels import LABELS
from agcl.train.device import RuntimeEnv

REPO = Path(__file__).resolve().parents[1]
#: The four step configurations: (autocast dtype or None, channels_last).
STEP_CONFIGS = {"fp32_contiguous": (None, False), "fp32_channels_last": (None, True),
                "bf16_contiguous": (torch.bfloat16, False), "bf16_channels_last": (torch.bfloat16, True)}


def _env(ctx: dict, amp: torch.dtype | None, channels_last: bool) -> RuntimeEnv:
    return RuntimeEnv(ctx["device"], amp_dtype=amp, channels_last=channels_last,
                      amp_name="bf16" if amp is torch.bfloat16 else "none")


def _error(exc: BaseException) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _phantom(ctx: dict) -> PhantomData:
    """The phantom shared by the loader, end-to-end, AMP and predict parts (made once)."""
    if "phantom" not in ctx:
        s = ctx["sizes"]
        workers = 1 if ctx["mode"] == "cpu-smoke" else min(16, os.cpu_count() or 1)
        ctx["phantom"] = phantom_data(ctx["work"] / "data", s["phantom"], s["size"], workers=workers)
    return ctx["phantom"]


def _demand(ctx: dict) -> float | None:
    """The training step's img/s at the recipe's settings (bf16 + channels_last), if measured."""
    return ctx["report"]["parts"].get("step", {}).get("configs", {}).get("bf16_channels_last", {}).get("img_per_s")


def step_part(ctx: dict) -> dict:
    """Baseline step img/s and peak memory for fp32/bf16 × channels_last on/off at the recipe's batch."""
    s = ctx["sizes"]
    if ctx["device"].type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the loop sets it for runtime.deterministic=false
    configs = {}
    for name, (amp, cl) in STEP_CONFIGS.items():
        try:
            configs[name] = step_throughput(_env(ctx, amp, cl), s["backbone"], s["size"], s["batch"], s["warmup"],
                                            s["steps"])
        except Exception as exc:  # noqa: BLE001 - one configuration failing must not hide the others
            configs[name] = _error(exc)
    return {"backbone": s["backbone"], "size": s["size"], "batch": s["batch"], "configs": configs}


def max_batch_part(ctx: dict) -> dict:
    """The largest batch of one training step per configuration (time-boxed per configuration)."""
    import time

    s, budget = ctx["sizes"], ctx["budget"]
    configs = {}
    for name, (amp, cl) in STEP_CONFIGS.items():
        deadline = time.perf_counter() + s["max_batch_s"]
        try:
            configs[name] = largest_batch(
                _env(ctx, amp, cl), s["backbone"], s["size"], start=s["max_batch_start"], cap=s["max_batch_cap"],
                granularity=s["max_batch_granularity"],
                time_left=lambda d=deadline: min(d - time.perf_counter(), budget.left() - 240))
        except Exception as exc:  # noqa: BLE001
            configs[name] = _error(exc)
    return {"backbone": s["backbone"], "size": s["size"], "configs": configs}


def two_path_part(ctx: dict) -> dict:
    """The two-path step against the baseline step, bf16 + channels_last, alternating rounds."""
    s = ctx["sizes"]
    return two_path_ratio(_env(ctx, torch.bfloat16, True), s["backbone"], s["size"], s["batch"],
                          s["two_path_rounds"], s["two_path_steps"])


def loader_part(ctx: dict) -> dict:
    """Loader img/s per worker count, augmentation per item in the workers (cpu) or batched after transfer."""
    import time

    s, budget = ctx["sizes"], ctx["budget"]
    t0 = time.perf_counter()
    data = _phantom(ctx)
    made = time.perf_counter() - t0
    runs: dict[str, list[dict]] = {"cpu": [], "gpu": []}
    for mode in ("gpu", "cpu"):
        ds = training_dataset(data.cache_dir, on_device=mode == "gpu")
        for workers in s["loader_workers"]:
            if budget.left() < 200 and ctx["mode"] == "gpu":
                runs[mode].append({"workers": workers, "skipped": "time budget"})
                continue
            try:
                runs[mode].append(loader_throughput(ds, device=ctx["device"], workers=workers, batch=s["batch"],
                                                    items=s["loader_items"], max_s=s["loader_max_s"]))
            except Exception as exc:  # noqa: BLE001
                runs[mode].append({"workers": workers, **_error(exc)})
    best = {m: max((r["img_per_s"] for r in rs if "img_per_s" in r), default=None) for m, rs in runs.items()}
    demand = _demand(ctx)
    enough = [r["workers"] for r in runs["gpu"] if demand and r.get("img_per_s", 0) >= 2 * demand]
    return {"size": s["size"], "batch": s["batch"], "phantom_s": round(made, 1), "runs": runs,
            "best_img_per_s": best, "step_demand_img_per_s": demand,
            "gpu_over_demand": round(best["gpu"] / demand, 2) if demand and best["gpu"] else None,
            "cpu_over_demand": round(best["cpu"] / demand, 2) if demand and best["cpu"] else None,
            "recommended_num_workers": min(enough) if enough else None}


def reference_cam_shape(backbone: str, size: int) -> list[int]:
    """The heatmap grid of one image computed on the CPU (what every device must reproduce)."""
    from agcl.models import build_model, forward_with_cams

    model = build_model({"kind": "multilabel", "backbone": backbone, "image_size": size}, pretrained="none").eval()
    _, cams = forward_with_cams(model, torch.zeros(1, 1, size, size), frame="image")
    return list(cams.shape[1:])


def e2e_part(ctx: dict) -> dict:
    """``agcl run`` with the nih-cxr14 recipe on the phantom; checks shapes and finiteness of the outputs."""
    s, budget = ctx["sizes"], ctx["budget"]
    data = _phantom(ctx)
    run = ctx["work"] / "e2e-run"
    sets = [f"data.index_dir={data.index_dir}", f"data.cache_dir={data.cache_dir}", f"source.severity={data.severity}",
            f"data.image_size={s['size']}", "model.pretrained=none", "optim.max_epochs=2",
            "curriculum.max_epochs_per_stage=2", "curriculum.min_positives=5",
            f"curriculum.labels=[{','.join(frequent_labels(data.index_dir, s['e2e_labels']))}]",
            "runtime.progress=false", *s["e2e_sets"]]
    cmd = [sys.executable, "-m", "agcl.cli", "run", "--config", str(REPO / "configs" / "nih-cxr14.yaml"),
           "--run-dir", str(run), *[a for kv in sets for a in ("--set", kv)]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    timeout = max(30.0, budget.left() - (40 if ctx["mode"] == "gpu" else 0))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"passed": False, "reason": f"agcl run did not finish in {timeout:.0f} s", "command": _shown(cmd)}
    out: dict = {"command": _shown(cmd), "returncode": proc.returncode}
    if proc.returncode != 0:
        return {**out, "passed": False, "stderr_tail": proc.stderr[-1500:]}
    return {**out, **check_run(run, data, s["backbone"], s["size"])}


def frequent_labels(index_dir: Path, k: int) -> list[str]:
    """The ``k`` labels with the most training positives: the binary networks the short run trains
    (every one of the 14 would make the curriculum stage most of the check's time)."""
    from agcl.data.index import load_index

    counts = load_index(index_dir).split("train")[list(LABELS)].sum()
    return [str(lab) for lab in counts.sort_values(ascending=False, kind="stable").index[:k]]


def _shown(cmd: list[str]) -> str:
    return " ".join(cmd[1:]).replace(str(REPO) + "/", "")


def check_run(run: Path, data: PhantomData, backbone: str, size: int) -> dict:
    """Every model stage: predictions of every test image, finite probabilities in [0, 1], heatmaps of the
    CPU shape; plus the training img/s each stage logged."""
    from agcl.data.index import load_index

    test = load_index(data.index_dir).split("test")
    grid = reference_cam_shape(backbone, size)
    stages, problems = {}, []
    for sd in sorted(run.glob("stage_*")):
        if not (sd / "predictions.csv").is_file():
            continue
        pred = pd.read_csv(sd / "predictions.csv", dtype={"image_id": str})
        probs = pred[list(LABELS)].to_numpy(dtype=np.float64) if set(LABELS) <= set(pred.columns) else np.zeros(0)
        heat = np.load(sd / "heatmaps.npy")
        row = {"predictions": list(pred.shape), "heatmaps": list(heat.shape),
               "finite": bool(np.isfinite(probs).all()) and probs.size > 0,
               "in_0_1": bool(probs.size and probs.min() >= 0 and probs.max() <= 1)}
        if list(pred.columns) != ["image_id", *LABELS] or len(pred) != len(test):
            problems.append(f"{sd.name}: predictions.csv {pred.shape} for {len(test)} test images")
        if list(heat.shape[1:]) != grid:
            problems.append(f"{sd.name}: heatmaps {list(heat.shape)}, CPU grid {grid}")
        if not (row["finite"] and row["in_0_1"]):
            problems.append(f"{sd.name}: probabilities not finite in [0, 1]")
        stages[sd.name] = row
    expected = {"stage_bsl", "stage_agl", "stage_agcl_1"}
    problems += [f"{name}: missing" for name in sorted(expected - set(stages))]
    speed: dict[str, float] = {}
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        if ev.get("event") == "timing":
            key = ev["stage"].split("/")[0]
            speed[key] = max(speed.get(key, 0.0), round(float(ev["img_per_s"]), 1))
    return {"passed": not problems, "problems": problems, "cpu_cam_grid": grid, "test_images": len(test),
            "stages": stages, "eval_written": (run / "eval" / "auc.csv").is_file(),
            "train_img_per_s_best_epoch": speed}


def amp_part(ctx: dict) -> dict:
    """bf16 (and fp16 on CUDA) against fp32 on one batch of phantom images; the trained BSL if e2e ran."""
    from agcl.data.cache import ImageCache
    from agcl.models import build_model
    from agcl.train.checkpoint import load_checkpoint

    s = ctx["sizes"]
    data = _phantom(ctx)
    ckpt = ctx["work"] / "e2e-run" / "stage_bsl" / "checkpoint.pt"
    spec = {"kind": "multilabel", "backbone": s["backbone"], "image_size": s["size"]}
    model = build_model(spec, pretrained="none", seed=0)
    weights = "random init"
    if ckpt.is_file():
        model.load_state_dict(load_checkpoint(ckpt)["model"])
        weights = "e2e stage_bsl checkpoint"
    cache = ImageCache.open(data.cache_dir)
    x = torch.from_numpy(np.stack([cache.get(i) for i in range(s["amp_batch"])]).astype(np.float32) / 255.0)[:, None]
    cl = ctx["device"].type == "cuda"
    model.to(ctx["device"], memory_format=torch.channels_last if cl else torch.preserve_format)
    x = x.to(ctx["device"]).contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
    return {"weights": weights, **amp_numerics(model, x)}


def predict_part(ctx: dict) -> dict:
    """``agcl predict`` on phantom PNGs with both box generators against the bare forward pass."""
    from predict_throughput import measure

    s = ctx["sizes"]
    files = sorted((_phantom(ctx).phantom / "images").glob("*.png"))[: s["predict_images"]]
    with tempfile.TemporaryDirectory(dir=ctx["work"]) as tmp:
        return measure(files, Path(tmp), backbone=s["backbone"], size=s["size"], batch_size=max(4, s["batch"] // 2),
                       device=ctx["device"].type, workers=s["predict_workers"], box_grid=128, box_threshold=0.0,
                       generators=["cam20", "wang2017"], repeats=s["repeats"])
