"""DDP on CPU: two gloo processes under torchrun agree with each other and with one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_training import main as toy_main

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "toy_training.py"
SRC = HERE.parents[1] / "src"


@pytest.mark.slow
def test_two_ranks_match_each_other_and_single_process(tmp_path: Path) -> None:
    """Also: under DDP, a run that dies mid-epoch and is resumed ends bit-identical to an uninterrupted one
    (per-rank RNG states, dropout on)."""
    ddp = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT),
           "--stage-dir", str(ddp / "stage_toy"), "--run-dir", str(ddp), "--out", str(tmp_path / "w_ddp"),
           "--batch", "4", "--epochs", "3", "--num-images", "64", "--resume-check", str(tmp_path / "rc")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]

    single = tmp_path / "single"
    toy_main(["--stage-dir", str(single / "stage_toy"), "--run-dir", str(single), "--out", str(tmp_path / "w_one"),
              "--batch", "8", "--epochs", "3", "--num-images", "64"])

    r0 = torch.load(f"{tmp_path / 'w_ddp'}.rank0", weights_only=True)
    r1 = torch.load(f"{tmp_path / 'w_ddp'}.rank1", weights_only=True)
    one = torch.load(f"{tmp_path / 'w_one'}.rank0", weights_only=True)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
        torch.testing.assert_close(r0[k], one[k], rtol=1e-4, atol=1e-5)  # same global batch, other sum order

    # only rank 0 wrote: one line per step/epoch, one TensorBoard file, only the final checkpoint
    events = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == list(range(1, 3 * 64 // 8 + 1))
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [0, 1, 2]
    assert len(list((ddp / "tb" / "toy").iterdir())) == 1
    assert sorted(p.name for p in (ddp / "stage_toy").iterdir()) == ["checkpoint.pt"]
    ddp_epochs = [e for e in events if e["event"] == "epoch"]
    one_epochs = [json.loads(line) for line in (single / "metrics.jsonl").read_text().splitlines()]
    one_epochs = [e for e in one_epochs if e["event"] == "epoch"]
    for a, b in zip(ddp_epochs, one_epochs, strict=True):  # all-reduced metrics = single-process metrics
        assert abs(a["val/loss"] - b["val/loss"]) < 1e-5 and abs(a["train/loss"] - b["train/loss"]) < 1e-5

    rc = tmp_path / "rc"
    assert (rc / "crashed.rank0").is_file() and (rc / "crashed.rank1").is_file()
    for rank in (0, 1):
        full = torch.load(rc / f"full.rank{rank}", weights_only=True)
        resumed = torch.load(rc / f"resumed.rank{rank}", weights_only=True)
        assert all(torch.equal(full[k], resumed[k]) for k in full), f"rank {rank}: resumed run differs"

    def ev(run: Path) -> list[dict]:
        return [e for e in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if e["event"] != "timing"]

    assert ev(rc / "full") == ev(rc / "resumed")
