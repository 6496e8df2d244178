"""The ``agcl`` command line: one command per stage, plus ``run`` (whole pipeline) and ``demo``.

Each command lives in its own module under :mod:`agcl.commands` and registers itself through a
``register(app)`` function, so that stages stay small and independent.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

#: Command modules, in the order ``agcl --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "synth",
    "index",
    "prepare",
    "mine",
    "train",
    "evaluate",
    "run",
    "compare",
    "demo",
    "report",
    "predict",
)

app = typer.Typer(
    name="agcl",
    help="Attention-Guided Curriculum Learning (AGCL) for chest X-ray classification and weak localization.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"agcl.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"agcl.commands.{name}":
                continue  # command not built in this checkout; tests assert the full set
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    from agcl.logs import setup_console_logging

    setup_console_logging()
    try:
        app()
    except KeyboardInterrupt:
        logging.getLogger("agcl").error("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # `python -m agcl.cli` (also what torchrun launches: `torchrun -m agcl.cli ...`)
    main()
