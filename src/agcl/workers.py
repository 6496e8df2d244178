"""Worker processes die with their parent: a ``kill -9`` of ``agcl prepare`` (or ``synth``) must not
leave decoding workers running, re-parented to PID 1 (see docs/reliability.md).

:func:`spawn_pool` builds the process pool every command uses; its initializer asks Linux to SIGKILL
the worker when the parent dies (``prctl(PR_SET_PDEATHSIG)``) and, on other systems or when that call
is unavailable, starts a daemon thread that exits the worker once its parent PID changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 0.5


def _set_pdeathsig() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    os._exit(1)


def bind_to_parent(parent_pid: int) -> None:
    """Pool initializer: make this worker die when ``parent_pid`` dies."""
    if not _set_pdeathsig():
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    """A ``spawn`` process pool whose workers die with this process.

    spawn, not fork: workers must not inherit the parent's threads (rich progress) or torch state.
    """
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=bind_to_parent, initargs=(os.getpid(),))
