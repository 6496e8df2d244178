"""Console logging (rich) for the CLI. Library code only uses ``logging.getLogger(__name__)``."""

from __future__ import annotations

import logging
import os


def setup_console_logging(level: str | None = None) -> None:
    """Route the ``agcl`` logger to a rich console handler on stderr (idempotent)."""
    from rich.console import Console
    from rich.logging import RichHandler

    logger = logging.getLogger("agcl")
    if any(getattr(h, "_agcl", False) for h in logger.handlers):
        return
    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
    handler._agcl = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    logger.addHandler(handler)
    logger.setLevel(level or os.environ.get("AGCL_LOG_LEVEL", "INFO"))
    logger.propagate = False
