"""Hermite expansions of duals against closed forms: ``nkwidgets/_sketch/_hermite.py``.

The truncated series :math:`\\sum_{i \\le p} a_i(q_1) a_i(q_2) \\rho^i` must
agree with the arc-cosine (ReLU) and arcsine (Erf) closed forms within the
Cauchy–Schwarz tail bound :math:`\\sqrt{T(q_1) T(q_2)}` the module reports,
and the bound must shrink with the degree.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import sketch
from nkwidgets.errors import LayerError

# Quadrature error of the coefficients themselves: float64 rounding summed
# over ~100 nodes and ~30 degrees, ~1e-14; 1e-10 is the margin.
QUAD_ATOL = 1e-10

Q1, Q2 = 0.7, 2.3
RHO = np.linspace(-1.0, 1.0, 41)


def relu_duals(rho, q1, q2):
    theta = np.arccos(rho)
    nngp = np.sqrt(q1 * q2) * (np.sin(theta) + (np.pi - theta) * rho) / (2 * np.pi)
    return nngp, (np.pi - theta) / (2 * np.pi) + 0 * rho


def erf_duals(rho, q1, q2):
    c = rho * np.sqrt(q1 * q2)
    nngp = 2 / np.pi * np.arcsin(2 * c / np.sqrt((1 + 2 * q1) * (1 + 2 * q2)))
    dot = 4 / np.pi / np.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * c**2)
    return nngp, dot


CASES = {"relu": (jax.nn.relu, relu_duals), "erf": (jax.scipy.special.erf, erf_duals)}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("degree", [4, 10, 30])
def test_truncated_dual_within_tail_bound(name, degree, x64):
    fn, closed = CASES[name]
    nngp, dot = closed(RHO, Q1, Q2)
    e1, e2 = (sketch.hermite_coefficients(fn, degree, q) for q in (Q1, Q2))
    series = sketch.dual_series(e1.coefficients, e2.coefficients, RHO)
    bound = float(jnp.sqrt(e1.tail * e2.tail))
    assert np.max(np.abs(series - nngp)) <= bound + QUAD_ATOL
    # The bound is attained in order of magnitude at rho = +-1 (all tail
    # terms add), so it is not vacuous: the error there is > 10% of it.
    assert np.max(np.abs(series - nngp)) > 0.1 * bound
    d1, d2 = (sketch.derivative_expansion(fn, degree, q) for q in (Q1, Q2))
    dseries = sketch.dual_series(d1.coefficients, d2.coefficients, RHO)
    dbound = float(jnp.sqrt(d1.tail * d2.tail))
    inner = np.abs(RHO) < 1  # Erf's derivative dual is finite everywhere; ReLU's too
    assert np.max(np.abs(dseries - dot)[inner]) <= dbound + QUAD_ATOL


def test_tail_shrinks_with_degree(x64):
    tails = [
        float(sketch.hermite_coefficients(jax.scipy.special.erf, p, 1.0).tail)
        for p in (3, 9, 27)
    ]
    # Erf at unit variance: a_i^2 decays geometrically, so each tripling of the
    # degree cuts the tail by far more than 10x.
    assert tails[0] > 10 * tails[1] > 100 * tails[2]


def test_relu_coefficients_closed_form(x64):
    # a_0 = 1/sqrt(2 pi), a_1 = 1/2, a_2 = 1/(2 sqrt(pi)), odd i >= 3 vanish.
    a = np.asarray(sketch.hermite_coefficients(jax.nn.relu, 5, 4.0).coefficients)
    expected = 2.0 * np.array(  # ReLU is 1-homogeneous: a_i(q) = sqrt(q) a_i(1)
        [
            1 / np.sqrt(2 * np.pi),
            0.5,
            1 / (2 * np.sqrt(np.pi)),
            0.0,
            -1 / (np.sqrt(24) * np.sqrt(2 * np.pi)),
            0.0,
        ]
    )
    np.testing.assert_allclose(a, expected, atol=1e-12)


def test_bad_degree_names_the_fix():
    with pytest.raises(LayerError, match="nodes >= 51"):
        sketch.hermite_coefficients(jax.nn.relu, 100, 1.0, nodes=40)
    with pytest.raises(LayerError, match="degree"):
        sketch.hermite_coefficients(jax.nn.relu, -1)
