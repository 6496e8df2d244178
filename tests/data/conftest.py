"""Fixtures of the data tests."""

from __future__ import annotations

import pytest

from . import squares


@pytest.fixture(scope="module")
def cache_and_index(tmp_path_factory):
    """Index + cache of 8 images of 32 px (:mod:`squares`)."""
    return squares.build(tmp_path_factory.mktemp("ds"))
