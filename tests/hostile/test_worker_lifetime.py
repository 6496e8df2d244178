"""``kill -9`` of ``agcl prepare --workers 2``: its spawn workers (and the resource tracker) die with it
instead of living on, re-parented to PID 1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .clirun import agcl

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(condition, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_prepare_workers_die_with_parent(phantom: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(phantom, src)
    assert agcl("index", src, "--out", tmp_path / "ix").exit_code == 0
    fifo = sorted((src / "images").glob("*.png"))[3]
    fifo.unlink()
    os.mkfifo(fifo)  # a worker that opens it blocks forever: the run is still busy when it is killed
    proc = subprocess.Popen([sys.executable, "-m", "agcl.cli", "prepare", str(tmp_path / "ix"), "--size", "16",
                             "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        assert _wait(lambda: len(_children(proc.pid)) >= 3, 60), "workers did not start"  # 2 workers + tracker
        time.sleep(1.0)  # let the workers reach the blocking file
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait(lambda: not any(_alive(p) for p in workers), 15), \
            f"still alive after the parent was killed: {[p for p in workers if _alive(p)]}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:  # only the processes this test started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


WATCHED_CHILD = """
import os, sys, time
import agcl.workers as w
w._set_pdeathsig = lambda: False  # take the portable path: the parent-PID watchdog
w.bind_to_parent(os.getppid())
print("armed", flush=True)
time.sleep(60)
"""

PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=sys.stdout)
print(child.pid, flush=True)
child.wait()
"""


def test_watchdog_fallback_ends_worker_when_parent_dies() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, WATCHED_CHILD], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "armed"
        parent.kill()
        parent.wait(timeout=10)
        assert _wait(lambda: not _alive(child), 10), "the watched child outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
        parent.stdout.close()
