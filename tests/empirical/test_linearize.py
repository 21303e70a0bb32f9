"""Taylor expansions in the parameters (``nkwidgets/_empirical/_linearize.py``).

Exactness checks need no tolerance beyond round-off (1e-12 in float64): a
Taylor expansion of order ``d`` reproduces any function that is a polynomial
of degree ``<= d`` in the parameters, and equals ``f`` at the expansion point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import empirical as nt

from ._models import model_inputs

EXACT = 1e-12


def _shift(params, scale=0.3, seed=1):
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree_util.tree_unflatten(
        tree,
        [
            v + scale * jax.random.normal(k, v.shape, v.dtype)
            for v, k in zip(leaves, keys, strict=True)
        ],
    )


def test_expansions_equal_f_at_the_expansion_point(x64):
    f, params, x1, _ = model_inputs("cnn")
    for g in (
        nt.linearize(f, params),
        nt.taylor_expand(f, params, 0),
        nt.taylor_expand(f, params, 3),
    ):
        np.testing.assert_allclose(g(params, x1), f(params, x1), rtol=EXACT, atol=EXACT)


def test_polynomials_in_the_parameters_are_reproduced(x64):
    """``f`` quadratic in ``(a, b)``: degree 2 is exact, degree 1 is not."""
    x = jnp.linspace(-1.0, 1.0, 5)

    def f(p, x):
        return p["a"] * x + p["b"] ** 2 * x**2 + p["a"] * p["b"]

    p0 = {"a": jnp.asarray(0.3), "b": jnp.asarray(-0.7)}
    p1 = {"a": jnp.asarray(1.1), "b": jnp.asarray(0.4)}
    np.testing.assert_allclose(nt.taylor_expand(f, p0, 2)(p1, x), f(p1, x), rtol=EXACT)
    assert not np.allclose(nt.taylor_expand(f, p0, 1)(p1, x), f(p1, x))
    np.testing.assert_allclose(
        nt.taylor_expand(f, p0, 1)(p1, x), nt.linearize(f, p0)(p1, x), rtol=EXACT
    )


def test_linearize_is_linear_in_the_parameter_shift(x64):
    f, params, x1, _ = model_inputs("attention")
    f_lin = nt.linearize(f, params)
    p1, p2 = _shift(params, seed=1), _shift(params, seed=2)
    mid = jax.tree_util.tree_map(lambda a, b: 0.25 * a + 0.75 * b, p1, p2)
    np.testing.assert_allclose(
        f_lin(mid, x1),
        0.25 * f_lin(p1, x1) + 0.75 * f_lin(p2, x1),
        rtol=1e-10,
        atol=1e-12,
    )


def test_taylor_expand_checks_degree():
    with pytest.raises(ValueError, match="degree"):
        nt.taylor_expand(lambda p, x: p * x, 1.0, -1)
