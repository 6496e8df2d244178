"""Shared fixtures of the report-mining tests."""

from __future__ import annotations

import pytest

from agcl.reports.mining import ReportMiner


@pytest.fixture(scope="session")
def miner() -> ReportMiner:
    """One miner (spaCy pipeline + matchers) for all mining tests of a worker."""
    return ReportMiner()
