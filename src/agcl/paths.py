"""What agcl may read and write: regular files only, paths inside their root, inputs never overwritten,
and clean-ups that remove only files agcl wrote (docs/reliability.md, "Guarantees").

Readers call :func:`regular_file` / :func:`read_text` before they open a user's file, so a FIFO, a device,
a folder or a broken link is refused with one line instead of blocking or being read as "empty".
Commands call :func:`check_apart` with the files they read and the files they will write before they
write anything. Clean-ups go through :func:`remove_own`, which never follows a symbolic link.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from agcl.errors import InputError, OutputError


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` is not a readable regular file (``"not found"``, ``"is a FIFO, not a regular file"``,
    ``"is a broken symbolic link"`` …), or None when it is one (a link to one counts)."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        return "is a broken symbolic link" if os.path.islink(p) else "not found"
    except OSError as exc:  # ELOOP, ENAMETOOLONG, EACCES on a parent…
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        return f"is {_kind(mode)}, not a regular file"
    return None


def regular_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """``path`` when it is a regular file (a link to one counts), else an InputError naming it.

    Refused: nothing there, a folder, a FIFO/socket/device (reading one could block forever), a broken
    or looping symbolic link.
    """
    problem = file_problem(path)
    if problem is not None:
        raise InputError(f"{what} {path} {problem}")
    return Path(path)


def optional_file(path: str | os.PathLike[str], what: str = "file") -> bool:
    """True for a regular file, False when nothing is there; anything else (a folder, a broken link, a
    FIFO) is an InputError: an optional input that exists but cannot be read is never read as absent."""
    if not os.path.lexists(path):
        return False
    regular_file(path, what)
    return True


def read_bytes(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The bytes of a regular file (see :func:`regular_file`); read errors name the file."""
    p = regular_file(path, what)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {p}: {exc.strerror or exc}") from None


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """The text of a UTF-8 file (BOM allowed); undecodable bytes are an InputError naming line and byte."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{path} line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                         "save the file as UTF-8") from None


def resolved(path: str | os.PathLike[str], what: str = "path") -> Path:
    """``Path(path).resolve()``; a symbolic link loop (or an unusable name) is an InputError naming it."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: "Symlink loop from ..." (Python < 3.13)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a symbolic link loop"
        raise InputError(f"{what} {path}: {reason}") from None


#: :func:`escapes_root` as one regular expression: blank, absolute (``/``, ``\\``, ``C:``) or a ``..`` part.
_ESCAPES = re.compile(r"^\s*$|^[/\\]|^[A-Za-z]:|(?:^|[/\\])\.\.(?:[/\\]|$)")


def escapes_root(rel: str) -> bool:
    """True when the image path ``rel`` (as written in an index) is empty, absolute or climbs out of its
    root with ``..``: agcl never reads outside the folders the user named. Lexical on purpose: a symbolic
    link inside the root (e.g. ``images_001`` on another disk) is the user's own choice."""
    return bool(_ESCAPES.search(str(rel)))


def first_escaping(paths: Iterable[str]) -> int | None:
    """Position of the first path for which :func:`escapes_root` holds, or None.

    Every ``load_index`` calls this on all paths (112k for NIH), so one pass of C substring searches over
    the joined text rules out the usual case; only a suspicious index is checked path by path.
    """
    items = paths.astype(str).tolist() if hasattr(paths, "astype") else [str(p) for p in paths]  # a Series: in C
    joined = "\n".join(items)
    suspicious = (not joined or ".." in joined or ":" in joined or "\\" in joined or "\t" in joined
                  or joined[0] in "/ \n" or joined[-1] in " \n" or any(t in joined for t in ("\n/", "\n\n", " \n", "\n ")))
    if not suspicious:
        return None
    return next((pos for pos, p in enumerate(items) if escapes_root(p)), None)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name the same file: the same absolute path once links are resolved, or
    the same inode (hard links)."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop: compare what can be compared
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_apart(outputs: Sequence[tuple[str, str | os.PathLike[str] | None]],
                inputs: Sequence[tuple[str, str | os.PathLike[str] | None]]) -> None:
    """Refuse before anything is written when an output would replace an input, or two outputs coincide.

    Args:
        outputs: ``(label, path)`` of every file the command will write (``None`` entries are skipped);
            the label names the option, e.g. ``"--out"`` or ``"--out (images.csv)"``.
        inputs: ``(label, path)`` of every file it reads.

    Raises:
        InputError: ``--out X would overwrite the input --csv Y; choose another output``.
    """
    outs = [(label, Path(p)) for label, p in outputs if p is not None]
    ins = [(label, Path(p)) for label, p in inputs if p is not None]
    for label, out in outs:
        for in_label, src in ins:
            if same_file(out, src):
                raise InputError(f"{label} {out} would overwrite the input {in_label} {src}; choose another output")
    for i, (label, out) in enumerate(outs):
        for other_label, other in outs[i + 1:]:
            if same_file(out, other):
                raise InputError(f"{label} and {other_label} are the same file ({out}); give them different paths")


def real_folder(folder: str | os.PathLike[str], what: str = "folder") -> Path:
    """``folder`` when it is absent or a real folder; a symbolic link (or a file) there is refused, so agcl
    never writes into, or cleans, a folder it reached through a link."""
    p = Path(folder)
    if os.path.islink(p):
        raise OutputError(f"{what} {p} is a symbolic link; agcl writes and cleans only real folders it made "
                          "(remove the link or choose another output folder)")
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {p} exists and is not a folder")
    return p


def remove_own(folder: str | os.PathLike[str], names: Iterable[str] = (), pattern: str | None = None) -> list[Path]:
    """Remove entries of ``folder`` that agcl wrote: the given ``names`` and/or the names matching the
    regular expression ``pattern`` (the exact names agcl generates). Never follows a symbolic link: a
    link among them is left alone (and reported by :class:`OutputError` when it stands where agcl must
    write), a folder among them is removed with its content only when it is a real folder.

    Returns the paths removed.
    """
    base = real_folder(folder)
    if not base.is_dir():
        return []
    wanted = set(names)
    rx = re.compile(pattern) if pattern else None
    with os.scandir(base) as it:
        entries = sorted((e for e in it if e.name in wanted or (rx is not None and rx.fullmatch(e.name))),
                         key=lambda e: e.name)
    for entry in entries:  # every entry is checked before anything is removed
        if entry.is_symlink():
            raise OutputError(f"{entry.path} is a symbolic link where agcl writes its own files; remove it first")
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    return [Path(e.path) for e in entries]
