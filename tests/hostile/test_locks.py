"""One command per output folder: a second ``run``/``train``/``prepare``/``predict -o``/``index``/``evaluate``
on a folder that another command holds fails at once, naming the holder, and changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agcl.runlock import LOCK_NAME, folder_lock

from .clirun import agcl, clean_error
from .conftest import CACHE

HOLDER = textwrap.dedent("""
    import sys, time
    from agcl.runlock import folder_lock
    with folder_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(600)
""")


def _tiny_run(indexed: Path) -> list[str]:
    return ["--set", f"data.index_dir={indexed}", "--set", f"data.image_size={CACHE}", "--set", "model.backbone=tiny",
            "--set", "model.pretrained=none", "--set", "runtime.device=cpu", "--set", "optim.max_epochs=1",
            "--set", "runtime.progress=false", "--set", "data.augment=none"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["run", "train"])
def test_second_training_command_on_a_locked_run_dir_fails_at_once(indexed: Path, tmp_path: Path, command: str) -> None:
    run = tmp_path / "run"
    with folder_lock(run):
        t0 = time.perf_counter()
        res = agcl(command, "--run-dir", run, *_tiny_run(indexed))
        msg = clean_error(res, str(run), f"pid {os.getpid()}")
        assert time.perf_counter() - t0 < 30 and "in use" in msg
        assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # no config.yaml, no stage, no log
    assert not run.exists()  # the lock's own folder is removed with it when nothing else was written


def test_second_prepare_on_a_locked_cache_fails_and_keeps_the_cache(indexed: Path, tmp_path: Path) -> None:
    import shutil

    ix = tmp_path / "ix"
    shutil.copytree(indexed, ix)
    cache = ix / f"cache_{CACHE}"
    before = _snapshot(cache)
    with folder_lock(cache):
        clean_error(agcl("prepare", ix, "--size", CACHE, "--workers", 1, "--rebuild"), str(cache), "in use")
    assert _snapshot(cache) == before


def test_predict_index_and_evaluate_outputs_are_locked(phantom: Path, indexed: Path, checkpoint: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    with folder_lock(out):
        image = next((phantom / "images").glob("*.png"))
        clean_error(agcl("predict", image, "-c", checkpoint, "-o", out, "--device", "cpu"), "in use")
        clean_error(agcl("index", phantom, "--out", out), "in use")
        clean_error(agcl("evaluate", indexed, "--control", "centre", "--out", out), "in use")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


def test_holder_in_another_process_is_named_and_a_kill_releases_it(phantom: Path, tmp_path: Path) -> None:
    out = tmp_path / "ix"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        record = json.loads((out / LOCK_NAME).read_text())
        assert record["pid"] == holder.pid and record["host"] and record["started"]
        msg = clean_error(agcl("index", phantom, "--out", out), f"pid {holder.pid}", record["host"])
        assert "in use" in msg and not (out / "images.csv").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK_NAME).exists()  # a killed holder leaves its file, but the OS released the lock
    res = agcl("index", phantom, "--out", out)
    assert res.exit_code == 0, res.output
    assert (out / "images.csv").is_file() and not (out / LOCK_NAME).exists()


def test_lock_is_not_reentrant_and_leaves_no_folder(tmp_path: Path) -> None:
    from agcl.errors import BusyError

    with folder_lock(tmp_path / "r") as held:
        assert held is not None and held.exists()
        with pytest.raises(BusyError, match=f"pid {os.getpid()}"), folder_lock(tmp_path / "r"):
            pass  # pragma: no cover - never reached
    assert not (tmp_path / "r").exists()
