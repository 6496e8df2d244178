"""``agcl evaluate`` options out of range: one line naming the option, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from .clirun import agcl, clean_error


@pytest.mark.parametrize(("option", "value"), [
    ("--t", "-1"), ("--t", "5"), ("--t", "nan"), ("--bootstrap", "-1"), ("--upsample-size", "-5"),
    ("--control-size", "-2"),
])
def test_evaluate_option_out_of_range(indexed: Path, tmp_path: Path, option: str, value: str) -> None:
    res = agcl("evaluate", indexed, "--control", "centre", "--out", tmp_path / "eval", option, value)
    clean_error(res, option, value)
    assert not (tmp_path / "eval").exists()


def test_evaluate_threshold_nan_with_predicted_positive_scope(indexed: Path, tmp_path: Path) -> None:
    res = agcl("evaluate", indexed, "--control", "centre", "--out", tmp_path / "eval",
               "--threshold", "nan", "--scope", "predicted_positive")
    clean_error(res, "--threshold", "nan")
    assert not (tmp_path / "eval").exists()
