"""User-facing errors: the CLI prints them as one line and exits non-zero (no traceback)."""

from __future__ import annotations

import difflib
import errno
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


#: errno values of an OSError that the CLI reports as one line (the environment, not a bug).
ENVIRONMENT_ERRNOS: frozenset[int] = frozenset(
    getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EISDIR", "EEXIST")
    if hasattr(errno, name)
)


def describe_os_error(exc: OSError) -> str:
    """``<file>: <reason>`` for an OSError (the file it names, when it names one)."""
    where = exc.filename if exc.filename is not None else "?"
    return f"{where}: {exc.strerror or exc}"


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close (the one
    suggestion helper of every error message; re-exported by :mod:`agcl.config`)."""
    hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    return f"; did you mean {hint[0]!r}?" if hint else ""
