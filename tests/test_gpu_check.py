"""The prepared device check (``benchmarks/gpu_check.py``): its CPU-sized run touches every part and
prints the whole document; without CUDA the plain command says so and exits 0; the batch search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
PARTS = ("step", "max_batch", "two_path", "loader", "e2e", "amp", "predict")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


@pytest.mark.slow
def test_cpu_smoke_runs_every_part_and_reports_every_figure(tmp_path):
    proc = _run("--cpu-smoke", "--out", str(tmp_path / "check.json"), "--work", str(tmp_path / "work"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc == json.loads((tmp_path / "check.json").read_text())
    assert doc["mode"] == "cpu-smoke" and doc["passed"] is True
    assert doc["summary"] in proc.stderr  # the one-line summary after the document
    for key in ("device", "device_name", "torch", "cuda", "cpu_count"):
        assert key in doc["env"]
    parts = doc["parts"]
    assert tuple(parts) == PARTS
    for name, part in parts.items():
        assert part["status"] == "ok", (name, part)
        assert part["wall_s"] >= 0
    for name in ("fp32_contiguous", "fp32_channels_last", "bf16_contiguous", "bf16_channels_last"):
        step = parts["step"]["configs"][name]
        assert step["img_per_s"] > 0 and step["loss_finite"] and "peak_memory_gib" in step
        search = parts["max_batch"]["configs"][name]
        assert search["largest_batch"] >= 4 and search["probes"]
    assert parts["two_path"]["ratio_two_path_over_baseline"] > 0
    loader = parts["loader"]
    for mode in ("cpu", "gpu"):
        assert [r["workers"] for r in loader["runs"][mode]] == [0, 1]
        assert all(r["img_per_s"] > 0 for r in loader["runs"][mode])
    assert loader["gpu_over_demand"] > 0 and loader["step_demand_img_per_s"] > 0
    e2e = parts["e2e"]
    assert e2e["passed"] and not e2e["problems"] and e2e["eval_written"]
    assert {"stage_bsl", "stage_agl", "stage_agcl_1"} <= set(e2e["stages"])
    assert all(s["heatmaps"][1:] == e2e["cpu_cam_grid"] for s in e2e["stages"].values())
    assert e2e["train_img_per_s_best_epoch"]["bsl"] > 0
    amp = parts["amp"]
    assert amp["bf16"]["finite"] and set(amp["bf16"]["inference_max_abs_diff"]) == {"logits", "probs", "cams"}
    assert amp["bf16"]["inference_max_abs_diff"]["probs"] < 0.5
    pred = parts["predict"]
    assert set(pred["ratio_vs_bare"]) == {"cam20", "wang2017"} and pred["images"] == 4
    v = doc["verdicts"]
    assert v["e2e_passed"] is True and v["two_path_ratio"] == parts["two_path"]["ratio_two_path_over_baseline"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: the real check would run")
def test_without_cuda_the_check_says_so_and_exits_0(tmp_path):
    proc = _run(cwd=tmp_path)
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["cuda"] is False and "no CUDA device" in proc.stderr


def test_batch_search_finds_the_limit_to_its_granularity():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from device_steps import search_largest

    def fits(limit):
        return lambda b: (b <= limit, "" if b <= limit else "out of memory")

    forever = lambda: 1.0  # noqa: E731
    got = search_largest(fits(700), start=32, cap=1024, granularity=32, time_left=forever)
    assert got["largest_batch"] == 672 and got["first_failing"] == 704 and got["exact"] and not got["capped"]
    assert [p["batch"] for p in got["probes"][:6]] == [32, 64, 128, 256, 512, 1024]
    got = search_largest(fits(5000), start=32, cap=1024, granularity=32, time_left=forever)
    assert got["largest_batch"] == 1024 and got["capped"] and got["first_failing"] is None
    got = search_largest(fits(10), start=32, cap=1024, granularity=32, time_left=forever)
    assert got["largest_batch"] == 0 and got["first_failing"] == 32 and got["exact"]
    assert search_largest(fits(700), start=32, cap=1024, granularity=32, time_left=lambda: 0.0)["probes"] == []
