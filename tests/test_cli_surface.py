"""The CLI surface: every stage command is registered, and every --help renders with defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agcl.cli import COMMAND_MODULES, app

runner = CliRunner()


def _registered() -> set[str]:
    import typer.main

    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def test_every_command_module_is_registered() -> None:
    assert _registered() == set(COMMAND_MODULES)


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_command_help_shows_defaults(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    if "--" in result.output.split("Options", 1)[-1].replace("--help", ""):
        assert "default" in result.output.lower(), f"{name} --help shows no defaults"


def test_console_script_lists_all_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agcl.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMAND_MODULES:
        assert name in out
