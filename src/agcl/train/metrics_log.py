"""Metrics logging: every named loss to the console, ``RUN/metrics.jsonl`` and TensorBoard (rank 0 only).

``metrics.jsonl`` is append-only, one JSON object per event::

    {"stage": "bsl", "event": "step", "epoch": 0, "step": 10, "lr": 0.001, "loss": 0.69, ...}
    {"stage": "bsl", "event": "epoch", "epoch": 0, "step": 25, "train/loss": 0.6, "val/loss": 0.58, ...}

TensorBoard event files go to ``RUN/tb/<stage>/``; tags are ``<event>/<key>`` (e.g. ``epoch/val/loss``)
with the global optimizer step as x.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agcl.io import write_text_atomic

log = logging.getLogger(__name__)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf; keep them visible as strings
    return v


class MetricsLogger:
    """Writes events for one stage. With ``enabled=False`` (ranks > 0) every call is a no-op.

    Args:
        run_dir: run directory (``metrics.jsonl`` and ``tb/<stage>`` go inside); None → console only.
        stage: stage name recorded in every event (``bsl``, ``curriculum_r1_Effusion``, ``agcl_1``…).
        tensorboard: also write TensorBoard event files.
        purge_step: on resume, TensorBoard drops events at or after this global step.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | None,
        stage: str,
        *,
        enabled: bool = True,
        tensorboard: bool = True,
        purge_step: int | None = None,
    ) -> None:
        self.stage = stage
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl" if run_dir is not None else None
        self._tb = None
        if enabled and run_dir is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tb" / stage), purge_step=purge_step)

    def log(
        self, event: str, *, epoch: int, step: int, values: Mapping[str, float], console: bool = False
    ) -> None:
        """Record one event (``step`` | ``epoch`` | any name) with its named values."""
        if not self.enabled:
            return
        record = {"stage": self.stage, "event": event, "epoch": int(epoch), "step": int(step)}
        record.update({k: _jsonable(float(v)) for k, v in values.items()})
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in values.items():  # x = global optimizer step for every event (matches purge_step)
                self._tb.add_scalar(f"{event}/{k}", float(v), step)
        if console:
            shown = "  ".join(f"{k}={float(v):.4g}" for k, v in values.items())
            log.info("[%s] %s %d: %s", self.stage, event, epoch + 1, shown)  # 1-based for people

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def truncate_stage_events(run_dir: str | os.PathLike[str], stage: str, from_epoch: int) -> int:
    """Drop ``stage``'s events with ``epoch >= from_epoch`` from ``RUN/metrics.jsonl`` (atomic rewrite).

    Called when a killed stage resumes from the checkpoint of epoch ``from_epoch - 1``, so the log ends
    up as if the run had never been interrupted. A torn last line (killed mid-write) is dropped too.
    Returns the number of lines removed.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if rec.get("stage") == stage and int(rec.get("epoch", -1)) >= from_epoch:
            dropped += 1
            continue
        kept.append(line)
    if dropped:
        write_text_atomic(path, "".join(f"{line}\n" for line in kept))
    return dropped
