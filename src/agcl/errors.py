"""User-facing errors: the CLI prints them as one line and exits non-zero (no traceback)."""

from __future__ import annotations

import difflib
import errno
import re
import reprlib
from collections.abc import Sequence


class AgclError(Exception):
    """A problem with the user's input or environment, reported as one clear line.

    The message names the file, row or setting at fault. Commands raise it; the CLI shell turns it
    into ``error: <message>`` on stderr and exit code 2.
    """

    exit_code = 2


class InputError(AgclError):
    """Malformed or missing input data (CSV, image, report, checkpoint)."""


class ConfigError(AgclError):
    """An invalid configuration value or override."""


class OutputError(AgclError):
    """An output that cannot be written (read-only or immutable folder, full disk)."""


class BusyError(AgclError):
    """A folder is in use by another agcl command (its lock is held; see :mod:`agcl.runlock`)."""


#: errno values of an OSError that the CLI reports as one line (the environment, not a bug): permissions,
#: read-only or full disks, and paths that cannot be used (missing, too long, a symlink loop, a file
#: where a folder is expected).
ENVIRONMENT_ERRNOS: frozenset[int] = frozenset(
    getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EISDIR", "EEXIST",
                                      "ENOENT", "ENAMETOOLONG", "ELOOP", "ENXIO", "ENODEV", "EFBIG", "EMLINK",
                                      "ETXTBSY", "EBUSY")
    if hasattr(errno, name)
)

#: Longest message the CLI prints (a user value quoted in a message can be anything).
MAX_MESSAGE = 1000

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlevel = 2


def short_repr(value: object) -> str:
    """``repr`` of a user value for a message, bounded (nested or aliased YAML is never expanded)."""
    return _REPR.repr(value)


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line and at most ``limit`` characters (``…`` marks a cut)."""
    flat = re.sub(r"\s*[\r\n]+\s*", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_os_error(exc: OSError) -> str:
    """``<file>: <reason>`` for an OSError (the file it names, when it names one)."""
    where = exc.filename if exc.filename is not None else "?"
    return f"{where}: {exc.strerror or exc}"


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close (the one
    suggestion helper of every error message; re-exported by :mod:`agcl.config`)."""
    if len(str(value)) > 100:  # a long value is not a typo (and difflib is quadratic in its length)
        return ""
    hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def load_error(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in a few words. torch's own message
    suggests loading with ``weights_only=False``; that would run code from the file, so agcl never
    passes that advice on."""
    text = str(exc).strip()
    if "Weights only load failed" in text or "weights_only" in text:
        refused = re.search(r"(?:GLOBAL|global) ([\w.]+)", text)
        what = f" ({refused.group(1)})" if refused else ""
        return (f"it holds Python objects{what} that a safe load refuses; agcl reads only tensors and plain "
                "values, and never runs code from a file")
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:160]
