"""A training process SIGKILLed at a random moment resumes to exactly the uninterrupted result."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from toy_training import main as toy_main

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "toy_training.py"
SRC = HERE.parents[1] / "src"


def _args(run: Path, out: Path) -> list[str]:
    return ["--stage-dir", str(run / "stage_toy"), "--run-dir", str(run), "--out", str(out),
            "--epochs", "4", "--dropout", "0.3", "--num-images", "48"]


def _events(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] != "timing"]


@pytest.mark.slow
def test_sigkill_at_a_random_point_then_resume(tmp_path: Path) -> None:
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    toy_main(_args(ref, tmp_path / "w_ref"))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *_args(killed, tmp_path / "w_killed"), "--sleep", "0.01"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = killed / "stage_toy" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # A new kill point on every run, somewhere in a later epoch (maybe mid-checkpoint); a failure names the
    # seed, and AGCL_TEST_KILL_SEED=<seed> replays the same delay.
    seed = int(os.environ.get("AGCL_TEST_KILL_SEED", str(time.time_ns() % 2**32)))
    delay = random.Random(seed).uniform(0.0, 0.6)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    where = f"kill {delay:.3f} s after last.pt (AGCL_TEST_KILL_SEED={seed})"
    assert proc.returncode == -signal.SIGKILL, f"{where}: " + (proc.stderr.read().decode()[-2000:] if proc.stderr else "")
    assert last.exists() and not (killed / "stage_toy" / "checkpoint.pt").exists(), where

    toy_main(_args(killed, tmp_path / "w_killed"))  # same command again → resumes

    a = torch.load(f"{tmp_path / 'w_ref'}.rank0", weights_only=True)
    b = torch.load(f"{tmp_path / 'w_killed'}.rank0", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), where
    assert _events(ref) == _events(killed), where
    assert sorted(p.name for p in (killed / "stage_toy").iterdir()) == ["checkpoint.pt"], where
