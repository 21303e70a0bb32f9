"""Shared pytest fixtures: precision switches and PRNG keys."""

from __future__ import annotations

import os

# Four fake CPU devices let sharding tests run anywhere; must precede jax import.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def x64():
    """Run the test body with float64 enabled (reference-precision tests)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def key():
    """A fixed PRNG key so Monte Carlo tests are reproducible."""
    return jax.random.PRNGKey(20261125)
