"""Thin-shell helpers shared by command modules: turn :class:`AgclError` into one line + exit code."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from agcl.errors import ENVIRONMENT_ERRNOS, AgclError, describe_os_error

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Decorator for command functions: an :class:`AgclError` becomes ``error: msg`` and a non-zero exit;
    so does an OSError of the environment (permission, read-only or full disk), naming its file."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AgclError as exc:
            logging.getLogger("agcl").debug("user error", exc_info=True)
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        except OSError as exc:  # an unwritable/full output folder is the environment, not a bug
            if exc.errno not in ENVIRONMENT_ERRNOS:
                raise
            logging.getLogger("agcl").debug("environment error", exc_info=True)
            print(f"error: cannot access {describe_os_error(exc)}", file=sys.stderr)
            raise SystemExit(AgclError.exit_code) from None

    return wrapper  # type: ignore[return-value]
