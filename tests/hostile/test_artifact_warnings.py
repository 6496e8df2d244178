"""A corrupt ``eval/summary.json`` and a half-written last ``metrics.jsonl`` line are tolerated by the
report, with a warning naming the file."""

from __future__ import annotations

import logging
from pathlib import Path

from agcl.viz.rundata import RunData, read_jsonl


def test_corrupt_summary_json_is_named(tmp_path: Path, caplog) -> None:
    (tmp_path / "stage_bsl").mkdir()
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "summary.json").write_text('{"settings": {"t": 0.2')
    with caplog.at_level(logging.WARNING):
        RunData.open(tmp_path)
    assert "summary.json" in caplog.text and "unreadable" in caplog.text


def test_half_written_metrics_line_is_named(tmp_path: Path, caplog) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"stage": "bsl", "epoch": 0, "train_loss": 0.5}\n{"stage": "bsl", "ep')
    with caplog.at_level(logging.WARNING):
        frame = read_jsonl(path)
    assert len(frame) == 1
    assert "metrics.jsonl:2" in caplog.text and "half-written" in caplog.text
