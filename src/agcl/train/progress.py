"""Rich progress bar for one epoch (rank 0 only; a no-op when disabled or when stderr is not a terminal)."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class EpochProgress:
    """Context manager: ``advance()`` once per batch, ``set_loss()`` to show the running loss."""

    def __init__(self, description: str, total: int, *, enabled: bool = True) -> None:
        self.description = description
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> EpochProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, loss="")
        return self

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)  # type: ignore[arg-type]

    def set_loss(self, value: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, loss=f"loss {value:.4f}")  # type: ignore[arg-type]

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
