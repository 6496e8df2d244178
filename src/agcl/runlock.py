"""One agcl command per output folder: an OS file lock held for the whole command.

``agcl run``, ``agcl train``, ``agcl prepare`` and ``agcl predict -o`` hold ``FOLDER/.agcl.lock``
(``fcntl.flock``, exclusive, non-blocking) from their first write to their exit. A second command on
the same folder fails at once with one line naming the holder (pid, host, command, start time), which
the lock file records. The operating system releases the lock when the holder exits, however it exits
(``kill -9`` included), so a stale lock never blocks a resume: the file may stay, the lock does not.

The lock file is removed on release. That is safe because a command that locked a file which was
unlinked meanwhile notices (its descriptor no longer matches the path) and locks the new file instead.
A folder the lock created, and left empty, is removed again, so a command that fails before writing
anything leaves nothing behind. On filesystems without ``flock`` (some network mounts) the lock is
skipped with a warning. Under torchrun only rank 0 takes it (docs/reliability.md, "Locks"). The lock is
not re-entrant: a second ``folder_lock`` on the same folder fails even within one process.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agcl.errors import BusyError, OutputError

log = logging.getLogger(__name__)

LOCK_NAME = ".agcl.lock"


def _holder(path: Path) -> str:
    """How the lock file describes its holder (best effort: it may be half-written or gone)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return (f"pid {info['pid']} on {info['host']} (`{info['command']}`, started {info['started']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another agcl command"


def _command() -> str:
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else ["agcl"]
    text = " ".join(args)
    return text if len(text) <= 200 else text[:199] + "…"


def _acquire(path: Path) -> int | None:
    """An fd holding an exclusive flock on ``path`` (the file that is at ``path`` right now), or None when
    this filesystem has no flock. Raises BusyError when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise BusyError(f"{path.parent} is in use by {_holder(path)}; wait for it to finish or stop it "
                                "(a killed command releases its lock)") from None
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                log.warning("%s: this filesystem does not support file locks; running without one", path.parent)
                return None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder unlinked the file after we opened it: lock the new one


@contextmanager
def folder_lock(folder: str | os.PathLike[str], *, enabled: bool = True) -> Iterator[Path | None]:
    """Hold ``folder/.agcl.lock`` for the duration of the block (``enabled=False``: a no-op, for ranks > 0).

    Raises:
        BusyError: another process holds the lock (the message names it).
        OutputError: the folder cannot be created or is not a folder.
    """
    if not enabled:
        yield None
        return
    base = Path(folder)
    if os.path.islink(base / LOCK_NAME):
        raise OutputError(f"{base / LOCK_NAME} is a symbolic link; remove it")
    created = not base.exists()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{base} exists and is not a folder") from None
    path = base / LOCK_NAME
    fd = _acquire(path)
    try:
        if fd is not None:
            record = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(),
                      "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(record) + "\n").encode())
        yield path
    finally:
        if fd is not None:
            try:
                path.unlink()  # while still locked: see the module docstring
            except FileNotFoundError:
                pass
            os.close(fd)
        if created:
            try:
                base.rmdir()  # only succeeds when the command wrote nothing
            except OSError:
                pass
