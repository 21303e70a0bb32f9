"""Regression on features: ``nkwidgets/_sketch/_regression.py``.

Checked against independent formulas on the sketched kernel ``K = Phi Phi^T``:
kernel regression ``K_* K^{-1} Y`` by a dense solve, and the finite-time flow
of ``nkwidgets.predict.gradient_descent_mse`` on the same ``n x n`` kernel.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from nkwidgets import predict, sketch
from nkwidgets.errors import InputError

# float64, O(D^3) eigh/Cholesky of well-conditioned Grams against an n x n
# solve: rounding ~1e-13 relative; 1e-9 leaves room for condition numbers ~1e3.
RTOL = 1e-9


@pytest.fixture
def problem(x64):
    rng = np.random.RandomState(3)
    x, xt = rng.randn(12, 6), rng.randn(5, 6)
    net = sketch.serial(
        sketch.DenseFeatures(1.5, 0.1),
        sketch.ReluFeatures(32),
        sketch.DenseFeatures(1.5, 0.1),
    )
    _, params = net.init_fn(jax.random.PRNGKey(0), x.shape)
    phi = np.asarray(net.feature_fn(x, params).ntk_feat)
    phit = np.asarray(net.feature_fn(xt, params).ntk_feat)
    y = rng.randn(12, 3)
    return net, params, x, phi, phit, y


def test_converged_equals_kernel_regression(problem):
    _, _, _, phi, phit, y = problem
    assert phi.shape[1] > phi.shape[0]  # the sketched kernel is invertible
    k, kt = phi @ phi.T, phit @ phi.T
    expected = kt @ np.linalg.solve(k, y)
    out = sketch.gradient_descent_mse(phi, y)(None, None, 0.0, phit)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=RTOL)
    out_inf = sketch.gradient_descent_mse(phi, y)(np.inf, None, 0.0, phit)
    np.testing.assert_allclose(out_inf, expected, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("diag_reg", [0.0, 0.05])
def test_finite_time_matches_predict(problem, diag_reg):
    _, _, _, phi, phit, y = problem
    rng = np.random.RandomState(4)
    f0, g0 = 0.1 * rng.randn(*y.shape), 0.1 * rng.randn(phit.shape[0], 3)
    ts = np.array([0.0, 3.0, 30.0, 300.0])
    ours = sketch.gradient_descent_mse(phi, y, learning_rate=0.5, diag_reg=diag_reg)(
        ts, f0, g0, phit
    )
    ref = predict.gradient_descent_mse(
        phi @ phi.T, y, learning_rate=0.5, diag_reg=diag_reg
    )(ts, f0, g0, phit @ phi.T)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL)


def test_rank_deficient_limit_is_projection(x64):
    # n > D: the flow never reaches the targets; at t = inf the train outputs
    # are their least-squares projection on the features' span.
    rng = np.random.RandomState(5)
    phi, y = rng.randn(30, 7), rng.randn(30, 2)
    coef = np.linalg.lstsq(phi, y, rcond=None)[0]
    train = sketch.gradient_descent_mse(phi, y)(np.inf, 0.0)
    np.testing.assert_allclose(train, phi @ coef, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(
        sketch.gradient_descent_mse(phi, y)(None, 0.0), phi @ coef, rtol=RTOL, atol=RTOL
    )


def test_streamed_batches_equal_in_memory(problem):
    net, params, x, phi, phit, y = problem
    batches = zip(
        sketch.feature_batches(net.feature_fn, params, x, 5),
        (y[i : i + 5] for i in range(0, 12, 5)),
        strict=True,
    )
    stream = sketch.gradient_descent_mse_streamed(batches, diag_reg=1e-3)
    full = sketch.gradient_descent_mse(phi, y, diag_reg=1e-3)
    ts = np.array([1.0, 100.0])
    np.testing.assert_allclose(
        stream(None, phit), full(None, None, 0.0, phit), rtol=RTOL
    )
    np.testing.assert_allclose(stream(ts, phit), full(ts, None, 0.0, phit), rtol=RTOL)


def test_bad_batches_name_the_problem(x64):
    with pytest.raises(InputError, match="empty"):
        sketch.feature_statistics([])
    rng = np.random.RandomState(0)
    with pytest.raises(InputError, match="same params"):
        sketch.feature_statistics(
            [(rng.randn(3, 4), rng.randn(3, 1)), (rng.randn(3, 5), rng.randn(3, 1))]
        )
    with pytest.raises(InputError, match="phi_test"):
        sketch.gradient_descent_mse(rng.randn(3, 4), rng.randn(3, 1))(None, None, 0.0)
