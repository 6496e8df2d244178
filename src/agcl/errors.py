"""User-facing errors: the CLI prints them as one line and exits non-zero (no traceback)."""

from __future__ import annotations


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
