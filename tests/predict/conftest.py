"""Strict numerics for the predict tests (``nkwidgets/_predict/``).

Implicit rank promotion raises and dtype promotion is strict in every test of
this directory, so a predictor that silently broadcasts or mixes float32 with
float64 fails here rather than in a user's notebook.
"""

from __future__ import annotations

import jax
import pytest


@pytest.fixture(autouse=True)
def _strict_numerics():
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
        yield
