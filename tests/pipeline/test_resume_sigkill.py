"""A run killed with SIGKILL at several points resumes and ends with the same numbers as an
uninterrupted run (tiny synthetic data, tiny backbone, 32 px).

The killed runs are forked child processes (they inherit the imported modules, so no start-up cost)
that are SIGKILLed the moment a file appears; the last resume goes through the real ``agcl run`` CLI.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agcl.cli import app
from agcl.pipeline.driver import load_pipeline_config, run_pipeline

from . import synthetic

# The tiny dataset has 3 of 14 classes: AUC is undefined for the others (NaN + warning by design).
pytestmark = pytest.mark.filterwarnings("ignore:AUC undefined")

#: Files whose appearance triggers a SIGKILL: mid-BSL (after an epoch checkpoint), mid-curriculum (one
#: disease finished, the next one training), just after the seeds were written, mid two-path training.
KILL_POINTS = ("stage_bsl/last.pt", "stage_curriculum_r1/Effusion/DONE", "stage_seeds_r1/seeds.csv",
               "stage_agcl_1/last.pt")
COMPARED = ("eval/auc.csv", "eval/localization.csv", "eval/seeds.csv", "stage_seeds_r1/seeds.csv",
            "stage_seeds_r1/seed_maps.npy", "stage_seeds_agl/seeds.csv", "stage_bsl/predictions.csv",
            "stage_agcl_1/predictions.csv", "stage_agl/predictions.csv", "stage_agcl_1/boxes.csv",
            "stage_agcl_1/heatmaps.npy")


def _sets(paths: dict) -> list[str]:
    return synthetic.tiny_config(paths, rounds=1, extra=("optim.max_epochs=3", "optim.patience=3"))


def _child(sets: list[str], run: str) -> None:  # runs in a forked process
    run_pipeline(load_pipeline_config(None, sets), Path(run))


@pytest.mark.slow
def test_sigkill_at_several_points_resumes_to_identical_results(tmp_path):
    paths = synthetic.build(tmp_path / "data")
    ref = tmp_path / "ref"
    run_pipeline(load_pipeline_config(None, _sets(paths)), ref)

    run = tmp_path / "killed"
    ctx = mp.get_context("fork")
    kills = 0
    for point in KILL_POINTS:
        proc = ctx.Process(target=_child, args=(_sets(paths), str(run)))
        proc.start()
        deadline = time.monotonic() + 120
        while proc.is_alive() and not (run / point).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.join()
        assert (run / point).exists(), f"kill point {point} never reached"
    assert kills >= 3

    args = ["run", "--run-dir", str(run)]
    for s in _sets(paths):
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Table 1" in result.output and "summary.md" in result.output
    for rel in COMPARED:
        assert (run / rel).read_bytes() == (ref / rel).read_bytes(), f"{rel} differs after SIGKILL/resume"
