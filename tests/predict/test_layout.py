"""Tests of ``nkwidgets/_predict/_layout.py``: zipped kernels and trace axes."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets._predict._layout import OutputLayout, make_2d, unzip_axes, zip_axes

pytestmark = pytest.mark.filterwarnings("error")


def test_make_2d_follows_nt_layout():
    # NT's own example: (1, 2, 3, 3, 4, 4) -> (1*3*4, 2*3*4).
    assert make_2d(jnp.ones((1, 2, 3, 3, 4, 4))).shape == (12, 24)
    k = jnp.arange(2 * 3 * 4 * 5, dtype=jnp.float32).reshape(
        2, 3, 4, 5
    )  # (N1, N2, C1, C2)
    m = make_2d(k)
    # Row index n1 * C1 + c1, column n2 * C2 + c2.
    assert m[1 * 4 + 2, 2 * 5 + 3] == k[1, 2, 2, 3]


def test_zip_and_unzip_are_inverse():
    x = jnp.arange(2 * 3 * 4 * 5 * 6, dtype=jnp.float32).reshape(2, 3, 4, 5, 6)
    np.testing.assert_array_equal(zip_axes(unzip_axes(x, 1), 1), x)
    assert zip_axes(jnp.ones((7, 2, 3, 2, 3)), 1).shape == (7, 2, 2, 3, 3)


@pytest.mark.parametrize("trace_axes", [(-1,), (), (0,), (1, 2)])
def test_flatten_round_trip_with_leading_axes(trace_axes):
    shape = (4, 3, 2)
    layout = OutputLayout.of(shape, trace_axes)
    y = jnp.arange(5 * 4 * 3 * 2, dtype=jnp.float32).reshape((5,) + shape)
    flat = layout.flatten(y)
    assert flat.shape == (5, np.prod(shape) // layout.n_channels, layout.n_channels)
    nt = layout.non_trace_shape(shape)
    np.testing.assert_array_equal(layout.unflatten(flat, nt), y)
    assert layout.output_shape(nt) == shape


def test_axes_are_validated():
    with pytest.raises(ValueError, match="out of range"):
        OutputLayout.of((3, 2), (2,))
    with pytest.raises(ValueError, match="repeats"):
        OutputLayout.of((3, 2), (1, -1))
