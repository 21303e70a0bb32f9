"""Closed-form nonlinearities: nkwidgets/kernels/_activations.py and _polynomial.py.

Each layer is held to three standards (NT parity is a fourth, in
test_nt_parity.py):

1. float64, against independent references (tests/_reference_duals.py, no
   engine code): brute-force 2-D Gauss–Hermite quadrature (degree 160) of the
   actual activation and its hand-written derivative for smooth activations;
   the polar-coordinate arc-cosine integral of Cho & Saul (2009) for Sign and
   RectifiedMonomial (orders 0-4); Gaussian integrals via ``numpy.linalg.det``;
   Mehler orthogonality for Hermite. Tolerance CLOSED_FORM_RTOL["float64"]
   (1e-6) of the largest entry, on a grid of covariances with correlations ±1.
2. float32 (the default precision), Monte Carlo of 200 finite networks
   ``serial(Dense(1024), act, Dense(4))`` for NNGP and NTK in both
   parameterizations: tolerance 5 standard errors of the 200-network mean plus
   2 % of the kernel scale (tests/_tolerances.py; with one hidden layer the MC
   mean is unbiased, so the 2 % is headroom). Inputs have unit variance per
   feature and W_std=1, so pre-activation variances are ~1 and heavy-tailed
   activations (Monomial(3), Exp) keep a moderate sample variance. Each MC test
   takes ~1-2 s on the 2-core CI machine (compile-bound).
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.polynomial import hermite_e
from numpy.polynomial import polynomial as npoly
from scipy.special import erf as np_erf

from nkwidgets import stax
from nkwidgets.kernels._activations import SIGMOID_LIKE_SCALE

from .._monte_carlo import check_against_monte_carlo, one_hidden_layer
from .._reference_duals import (
    covariance_grid,
    gauss_expectation,
    pre_activation_kernel,
    rectified_moment,
    unit_inputs,
)
from .._tolerances import CLOSED_FORM_RTOL

RTOL = CLOSED_FORM_RTOL["float64"]


def _gelu(x):
    return x * 0.5 * (1 + np_erf(x / np.sqrt(2)))


def _gelu_slope(x):
    return 0.5 * (1 + np_erf(x / np.sqrt(2))) + x * np.exp(-(x**2) / 2) / np.sqrt(
        2 * np.pi
    )


def _poly(coef):
    return (lambda x: npoly.polyval(x, coef)), (
        lambda x: npoly.polyval(x, npoly.polyder(coef))
    )


_A, _B, _C = 1.1, 0.9, 0.3  # Sin's scale, frequency and phase
_GAMMA = 0.7
_SIG = 1 / SIGMOID_LIKE_SCALE

# (id, layer, phi, phi') with phi written independently in NumPy.
SMOOTH = [
    ("gelu", stax.Gelu(), _gelu, _gelu_slope),
    ("gelu_approximate", stax.Gelu(approximate=True), _gelu, _gelu_slope),
    (
        "sin",
        stax.Sin(_A, _B, _C),
        lambda x: _A * np.sin(_B * x + _C),
        lambda x: _A * _B * np.cos(_B * x + _C),
    ),
    ("cos", stax.Cos(), np.cos, lambda x: -np.sin(x)),
    (
        "rbf",
        stax.Rbf(_GAMMA),
        lambda x: np.sqrt(2) * np.sin(np.sqrt(2 * _GAMMA) * x + np.pi / 4),
        lambda x: 2 * np.sqrt(_GAMMA) * np.cos(np.sqrt(2 * _GAMMA) * x + np.pi / 4),
    ),
    (
        "exp",
        stax.Exp(1.2, 0.5),
        lambda x: 1.2 * np.exp(0.5 * x),
        lambda x: 0.6 * np.exp(0.5 * x),
    ),
    (
        "gaussian",
        stax.Gaussian(0.8, -0.5),
        lambda x: 0.8 * np.exp(-0.5 * x**2),
        lambda x: -0.8 * x * np.exp(-0.5 * x**2),
    ),
    (
        "sigmoid_like",
        stax.Sigmoid_like(),
        lambda x: 0.5 * np_erf(_SIG * x) + 0.5,
        lambda x: _SIG / np.sqrt(np.pi) * np.exp(-((_SIG * x) ** 2)),
    ),
    ("monomial0", stax.Monomial(0), *_poly([1.0])),
    ("monomial2", stax.Monomial(2), *_poly([0, 0, 1.0])),
    ("monomial3", stax.Monomial(3), *_poly([0, 0, 0, 1.0])),
    ("monomial6", stax.Monomial(6), *_poly([0] * 6 + [1.0])),
    ("polynomial", stax.Polynomial([0.1, 0.5, 0.3]), *_poly([0.1, 0.5, 0.3])),
    ("polynomial_odd", stax.Polynomial([0, -1.0, 0, 0.2]), *_poly([0, -1.0, 0, 0.2])),
]


def _pairs(q1, q2):
    """Variances of x1 and x2 broadcast against an (N1, N2) covariance."""
    return q1[:, None], q2[None, :]


def _transform(layer, c, q1, q2):
    out = layer.kernel_fn(pre_activation_kernel(c, q1, q2))
    return np.asarray(out.nngp), np.asarray(out.ntk), np.asarray(out.cov1)


def _assert_close(got, want, what):
    np.testing.assert_allclose(
        got, want, rtol=RTOL, atol=RTOL * np.max(np.abs(want)), err_msg=what
    )


@pytest.mark.parametrize(
    "layer,phi,slope", [s[1:] for s in SMOOTH], ids=[s[0] for s in SMOOTH]
)
def test_smooth_duals_match_quadrature(x64, layer, phi, slope):
    """NNGP: E[phi(u) phi(v)]; NTK factor E[phi'(u) phi'(v)] (Price's theorem)."""
    c, q1, q2 = covariance_grid()
    nngp, ntk, cov1 = _transform(layer, c, q1, q2)
    _assert_close(nngp, gauss_expectation(phi, phi, c, *_pairs(q1, q2)), "nngp")
    _assert_close(ntk, gauss_expectation(slope, slope, c, *_pairs(q1, q2)), "ntk")
    _assert_close(cov1, gauss_expectation(phi, phi, q1, q1, q1), "cov1")


@pytest.mark.parametrize("degree", [0, 1, 2, 3, 4])
def test_rectified_monomial_is_arc_cosine_kernel(x64, degree):
    """Cho & Saul order n; the NTK factor is n^2 times the order n-1 kernel."""
    c, q1, q2 = covariance_grid()
    nngp, ntk, cov1 = _transform(stax.RectifiedMonomial(degree), c, q1, q2)
    _assert_close(nngp, rectified_moment(degree, c, *_pairs(q1, q2)), "nngp")
    slope = (
        0
        if degree == 0
        else degree**2 * rectified_moment(degree - 1, c, *_pairs(q1, q2))
    )
    _assert_close(ntk, np.broadcast_to(slope, ntk.shape), "ntk")
    # Closed form of the diagonal: E[relu(u)^(2n)] = (2n - 1)!! q^n / 2.
    double_factorial = math.prod(range(2 * degree - 1, 0, -2))
    _assert_close(cov1, double_factorial * q1**degree / 2, "cov1")


def test_arc_cosine_orders_0_1_2_closed_forms(x64):
    """Sign (order 0), Relu (order 1), RectifiedMonomial(2), from Cho & Saul's J_n."""
    c, q1, q2 = covariance_grid()
    norm = np.sqrt(np.outer(q1, q2))
    theta = np.arccos(np.clip(c / norm, -1, 1))
    s, co = np.sin(theta), np.cos(theta)
    j1 = s + (np.pi - theta) * co
    j2 = 3 * s * co + (np.pi - theta) * (1 + 2 * co**2)
    sign, sign_ntk, _ = _transform(stax.Sign(), c, q1, q2)
    _assert_close(sign, 4 * (np.pi - theta) / (2 * np.pi) - 1, "Sign = 2H - 1")
    assert np.all(sign_ntk == 0), "NT convention: sign' = 0 a.e., the NTK is dropped"
    relu, _, _ = _transform(stax.Relu(), c, q1, q2)
    _assert_close(relu, norm * j1 / (2 * np.pi), "Relu")
    rect2, rect2_ntk, _ = _transform(stax.RectifiedMonomial(2), c, q1, q2)
    _assert_close(rect2, norm**2 * j2 / (2 * np.pi), "RectifiedMonomial(2)")
    _assert_close(rect2_ntk, 4 * norm * j1 / (2 * np.pi), "RectifiedMonomial(2) ntk")


def test_gaussian_kernels_closed_forms(x64):
    """Rbf, Exp and Gaussian against moment generating functions / determinants."""
    c, q1, q2 = covariance_grid()
    sq_dist = q1[:, None] + q2[None, :] - 2 * c
    rbf, rbf_ntk, rbf_cov = _transform(stax.Rbf(_GAMMA), c, q1, q2)
    _assert_close(rbf, np.exp(-_GAMMA * sq_dist), "Rbf is exp(-gamma |u - v|^2)")
    _assert_close(rbf_ntk, 2 * _GAMMA * np.exp(-_GAMMA * sq_dist), "Rbf ntk")
    np.testing.assert_allclose(rbf_cov, 1.0, rtol=RTOL)
    a, b = 1.2, 0.5
    exp, _, _ = _transform(stax.Exp(a, b), c, q1, q2)
    # E[exp(b u + b v)] = exp(Var(b u + b v) / 2)
    _assert_close(
        exp, a**2 * np.exp(b**2 * (q1[:, None] + q2[None, :] + 2 * c) / 2), "Exp"
    )
    a, b = 0.8, -0.5
    gauss, _, _ = _transform(stax.Gaussian(a, b), c, q1, q2)
    dets = np.array(
        [
            [
                np.linalg.det(
                    np.eye(2) - 2 * b * np.array([[q1[i], c[i, j]], [c[i, j], q2[j]]])
                )
                for j in range(len(q2))
            ]
            for i in range(len(q1))
        ]
    )
    _assert_close(gauss, a**2 / np.sqrt(dets), "Gaussian")


def test_exp_normalized_closed_form(x64):
    c, q1, q2 = covariance_grid()
    gamma, shift = 0.8, -0.6
    nngp, ntk, cov1 = _transform(stax.ExpNormalized(gamma, shift), c, q1, q2)
    norm = np.sqrt(np.outer(q1, q2))
    _assert_close(nngp, norm * np.exp(gamma * (c / norm + shift)), "nngp")
    _assert_close(ntk, gamma * np.exp(gamma * (c / norm + shift)), "ntk")
    _assert_close(cov1, q1 * np.exp(gamma * (1 + shift)), "cov1")


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_hermite_mehler_orthogonality(x64, n):
    """At unit variance the dual of He_n / sqrt(n!) is rho^n, and the finite
    layer's polynomial is orthonormal to the other degrees."""
    rho = np.array([[1.0, -1.0, 0.0], [0.5, 0.99, -0.3]])
    ones = np.ones(2), np.ones(3)
    layer = stax.Hermite(n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unit variance: no warning
        nngp, ntk, cov1 = _transform(layer, rho, *ones)
    _assert_close(nngp, rho**n, "K' = rho^n")
    _assert_close(ntk, n * rho ** max(n - 1, 0) * (n > 0), "n rho^(n-1)")
    np.testing.assert_allclose(cov1, 1.0, rtol=RTOL)

    def h(m):
        coef = hermite_e.herme2poly([0] * m + [1]) / math.sqrt(math.factorial(m))
        return lambda x: npoly.polyval(x, coef)

    finite = lambda x: np.asarray(layer.apply_fn((), jnp.asarray(x)))  # noqa: E731
    _assert_close(
        gauss_expectation(finite, finite, rho, *_pairs(*ones)), rho**n, "apply_fn"
    )
    for m in range(6):
        if m != n:
            cross = gauss_expectation(h(n), h(m), rho, *_pairs(*ones))
            np.testing.assert_allclose(cross, 0.0, atol=1e-10)


def test_hermite_warns_off_unit_variance_and_polynomial_is_exact(x64):
    """NT's convention K' = c^n holds only at unit variance; Polynomial with the
    same coefficients is the exact dual at any variance."""
    c, q1, q2 = covariance_grid()
    with pytest.warns(UserWarning, match="unit-variance"):
        nngp, _, _ = _transform(stax.Hermite(2), c, q1, q2)
    _assert_close(nngp, c**2, "NT convention")
    coef = (hermite_e.herme2poly([0, 0, 1]) / math.sqrt(2)).tolist()
    exact, _, _ = _transform(stax.Polynomial(coef), c, q1, q2)
    phi = lambda x: npoly.polyval(x, coef)  # noqa: E731
    _assert_close(exact, gauss_expectation(phi, phi, c, *_pairs(q1, q2)), "exact dual")


def test_elementwise_autodiff_derivative_matches_erf(x64):
    """Elementwise(fn, nngp_fn) derives the NTK from nngp_fn by autodiff."""

    def nngp_fn(cov12, var1, var2):
        prod = (1 + 2 * var1) * (1 + 2 * var2)
        return jnp.arcsin(2 * cov12 / jnp.sqrt(prod)) * 2 / jnp.pi

    c, q1, q2 = covariance_grid()
    c = 0.999 * c  # arcsin' is infinite only at +-1, never reached after Erf
    auto = _transform(stax.Elementwise(jax.scipy.special.erf, nngp_fn), c, q1, q2)
    ref = _transform(stax.Erf(), c, q1, q2)
    for got, want, what in zip(auto, ref, ("nngp", "ntk", "cov1"), strict=True):
        _assert_close(got, want, what)


# ---- Monte Carlo (float32 default) --------------------------------------------

_EN_GAMMA, _EN_SHIFT = 0.8, -0.6
# ExpNormalized has no finite form; at unit variance it is this Sin network's
# kernel: sqrt(2 e^(gamma (1 + shift))) sin(sqrt(gamma) x + pi / 4).
_EN_FINITE = stax.Sin(
    math.sqrt(2 * math.exp(_EN_GAMMA * (1 + _EN_SHIFT))),
    math.sqrt(_EN_GAMMA),
    math.pi / 4,
)


def _arcsine(cov12, var1, var2):
    return (
        2 / jnp.pi * jnp.arcsin(2 * cov12 / jnp.sqrt((1 + 2 * var1) * (1 + 2 * var2)))
    )


# (id, analytic layer, finite layer or None, b_std); W_std = 1 throughout.
MONTE_CARLO = [
    ("gelu", stax.Gelu(), None, 0.1),
    ("sin", stax.Sin(_A, _B, _C), None, 0.1),
    ("cos", stax.Cos(0.9, 1.2, -0.4), None, 0.1),
    ("rbf", stax.Rbf(_GAMMA), None, 0.1),
    ("sign", stax.Sign(), None, 0.1),
    ("exp", stax.Exp(1.0, 0.5), None, 0.1),
    ("gaussian", stax.Gaussian(1.0, -0.5), None, 0.1),
    ("exp_normalized", stax.ExpNormalized(_EN_GAMMA, _EN_SHIFT), _EN_FINITE, None),
    ("sigmoid_like", stax.Sigmoid_like(), None, 0.1),
    ("monomial2", stax.Monomial(2), None, 0.1),
    ("monomial3", stax.Monomial(3), None, 0.1),
    ("rectified_monomial0", stax.RectifiedMonomial(0), None, 0.1),
    ("rectified_monomial2", stax.RectifiedMonomial(2), None, 0.1),
    ("polynomial", stax.Polynomial([0.1, 0.5, 0.3]), None, 0.1),
    ("hermite3", stax.Hermite(3), None, None),  # unit variance needs no bias
    (
        "elementwise_autodiff",
        stax.Elementwise(jax.scipy.special.erf, _arcsine),
        None,
        0.1,
    ),
]


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize(
    "act,finite,b_std", [m[1:] for m in MONTE_CARLO], ids=[m[0] for m in MONTE_CARLO]
)
def test_monte_carlo(key, act, finite, b_std, parameterization):
    x1, x2 = unit_inputs()
    net = one_hidden_layer(act, parameterization, 1.0, b_std)
    finite_net = (
        None
        if finite is None
        else one_hidden_layer(finite, parameterization, 1.0, b_std)
    )
    check_against_monte_carlo(net, x1, x2, key, finite_net=finite_net)
