"""Thin-shell helpers shared by command modules: turn :class:`AgclError` into one line + exit code."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer

from agcl.errors import ENVIRONMENT_ERRNOS, AgclError, describe_os_error, one_line

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code of an unexpected exception (a bug in agcl, not the user's input: that is 2).
EXIT_INTERNAL = 1


def _fail(message: str, code: int) -> SystemExit:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return SystemExit(code)


def user_errors(func: F) -> F:
    """Decorator for command functions: an :class:`AgclError` becomes ``error: msg`` and a non-zero exit;
    so does an OSError of the environment (permission, read-only or full disk, a missing or unusable
    path), naming its file. Any other exception is a bug: one ``error: internal error …`` line, exit 1
    (``AGCL_DEBUG=1`` shows the traceback instead). Messages are one line, at most
    :data:`agcl.errors.MAX_MESSAGE` characters."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        log = logging.getLogger("agcl")
        try:
            return func(*args, **kwargs)
        except AgclError as exc:
            log.debug("user error", exc_info=True)
            raise _fail(str(exc), exc.exit_code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                typer.Exit, typer.Abort):
            raise  # typer.Exit(code) and usage errors keep their own handling
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
                log.debug("environment error", exc_info=True)  # an unwritable/full/missing path, not a bug
                raise _fail(f"cannot access {describe_os_error(exc)}", AgclError.exit_code) from None
            if os.environ.get("AGCL_DEBUG"):
                raise
            log.debug("internal error", exc_info=True)
            raise _fail(f"internal error ({type(exc).__name__}: {exc}); this is a bug in agcl: run again with "
                        "AGCL_DEBUG=1 for the traceback", EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
