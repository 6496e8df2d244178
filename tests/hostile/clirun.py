"""Run the CLI in-process and check the hostile-input contract: the expected exit code, exactly one
``error: ...`` line naming the file/row/option, no traceback, no temporary or half-written file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from agcl.cli import app


def agcl(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def clean_error(res: Result, *names: str, code: int = 2) -> str:
    """Assert a clean failure and return its one-line message."""
    text = res.output + (res.stderr if res.stderr_bytes is not None else "")
    assert "Traceback" not in text, text
    assert isinstance(res.exception, SystemExit), f"uncaught {res.exception!r}\n{text}"
    assert res.exit_code == code, text
    lines = res.stderr.rstrip("\n").splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == len(lines) - 1, f"not one final error line:\n{res.stderr}"
    message = lines[-1]
    for name in names:
        assert name in message, f"{name!r} not named in {message!r}"
    return message


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of atomic writes (``.name.*.tmp``) left anywhere under ``folder``."""
    return sorted(folder.rglob(".*.tmp")) if folder.exists() else []


def immutable(folder: Path, on: bool) -> bool:
    """``chattr +i`` / ``-i`` (root ignores chmod); False when the filesystem or user cannot."""
    try:
        return subprocess.run(["chattr", "+i" if on else "-i", str(folder)], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False
