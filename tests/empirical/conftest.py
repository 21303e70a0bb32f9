"""Fixtures of the empirical-kernel tests."""

from __future__ import annotations

import pytest

from nkwidgets._empirical import _symmetric


@pytest.fixture
def small_blocks(monkeypatch):
    """Split even tiny symmetric kernels into blocks, so the mirroring code runs."""
    monkeypatch.setattr(_symmetric, "MIN_BLOCK_AXIS", 2)
