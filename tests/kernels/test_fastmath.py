"""Vectorizable float32 arccos/arcsin (nkwidgets/kernels/_fastmath.py).

Reference: NumPy's float64 arccos/arcsin evaluated at the same float32 inputs,
so input rounding does not count against us. Cephes' asinf polynomial is
accurate to ~1 ulp of the result; we allow 4 float32 ulps of pi (~1e-6 absolute)
and, near ±1 where results are small, 4 ulps relative.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nkwidgets.kernels import _fastmath

ULP = np.finfo(np.float32).eps


def _grid() -> np.ndarray:
    x = np.linspace(-1.0, 1.0, 400_001, dtype=np.float32)
    tail = 1.0 - np.logspace(-7, -1, 2_000).astype(np.float32)  # next to +1
    return np.concatenate([x, tail, -tail, [-1.0, 1.0, 0.0, 0.5, -0.5]]).astype(
        np.float32
    )


def test_float32_arccos_and_arcsin_match_float64_library():
    x = _grid()
    for ours, ref in ((_fastmath.arccos, np.arccos), (_fastmath.arcsin, np.arcsin)):
        got = np.asarray(ours(jnp.asarray(x)), np.float64)
        want = ref(x.astype(np.float64))
        err = np.abs(got - want)
        allowed = np.maximum(4 * ULP * np.pi, 4 * ULP * np.abs(want))
        assert np.all(err <= allowed), (ours.__name__, float(err.max()))


def test_float64_keeps_full_precision(x64):
    """float64 goes to JAX's arccos: within 2 float64 ulps of NumPy's."""
    x = np.linspace(-1, 1, 1001)
    got = _fastmath.arccos(jnp.asarray(x))
    assert got.dtype == np.float64
    np.testing.assert_allclose(
        np.asarray(got), np.arccos(x), rtol=4.5e-16, atol=4.5e-16
    )


def test_fuses_under_jit_and_vmap():
    x = jnp.asarray(_grid()[:1000].reshape(10, 100))
    np.testing.assert_allclose(
        jax.jit(jax.vmap(_fastmath.arccos))(x), _fastmath.arccos(x), rtol=0, atol=0
    )
