"""Tests of ``nkwidgets/_predict/_ode.py``: gradient descent on any loss by ODE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import predict

from ._kernels import toy_kernel_fn
from ._tolerances import ODE_RTOL

pytestmark = pytest.mark.filterwarnings("error")

N_TRAIN, N_TEST, CLASSES = 8, 3, 3


def _problem(seed=0):
    rng = np.random.RandomState(seed)
    x_train = jnp.asarray(rng.randn(N_TRAIN, 3))
    x_test = jnp.asarray(rng.randn(N_TEST, 3))
    k_dd = np.asarray(toy_kernel_fn(x_train, None, "ntk"))
    k_td = np.asarray(toy_kernel_fn(x_test, x_train, "ntk"))
    labels = rng.randint(0, CLASSES, N_TRAIN)
    y = np.eye(CLASSES)[labels]
    f0 = 0.2 * rng.randn(N_TRAIN, CLASSES)
    g0 = 0.2 * rng.randn(N_TEST, CLASSES)
    return k_dd, k_td, y, f0, g0


def mse(fx, y_hat):
    """NT's MSE convention: 1/(2 N) |f - y|^2 with N = y.size."""
    return 0.5 * jnp.mean((fx - y_hat) ** 2)


def cross_entropy(fx, y_hat):
    return -jnp.mean(jax.nn.log_softmax(fx) * y_hat)


def test_mse_loss_agrees_with_closed_form(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    ts = np.array([[5.0, 0.0], [1.0, 40.0]])  # any shape and order
    got = predict.gradient_descent(mse, k_dd, y, learning_rate=0.5)(ts, f0, g0, k_td)
    want = predict.gradient_descent_mse(k_dd, y, learning_rate=0.5)(ts, f0, g0, k_td)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape == ts.shape + b.shape[2:]
        np.testing.assert_allclose(a, b, rtol=ODE_RTOL, atol=ODE_RTOL * np.abs(b).max())


def test_infinite_time_reaches_the_minimiser(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    got = predict.gradient_descent(mse, k_dd, y)(None, f0, g0, k_td)
    want = predict.gradient_descent_mse(k_dd, y)(None, f0, g0, k_td)
    # The steady-state event stops once |df/dt| < 1.4e-8 (1 + |f|); the residual
    # left is |df/dt| N / lam_min(K) ~ 1e-8 * 24 / 0.3 here, so 1e-5 is safe.
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_momentum_matches_discrete_heavy_ball(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    n_out = y.size
    lam_max = np.linalg.eigvalsh(k_dd)[-1]
    # Continuous time per step h = sqrt(lr); friction (1 - m) / h = 2 held fixed
    # so the discrete heavy ball is a first-order (O(h)) discretisation of NT's
    # momentum ODE. With h = 1e-3 (in units of the kernel's time scale
    # sqrt(N / lam_max)) the gap is 2e-4 of the distance travelled, and halves
    # with h (checked at h = 2e-3, 1e-3, 5e-4); 1e-3 leaves a 5x margin.
    h = 1e-3 * np.sqrt(n_out / lam_max)
    lr, m = h**2, 1 - 2 * h
    steps = 3000
    f, g = f0.copy(), g0.copy()
    v, w = np.zeros_like(f), np.zeros_like(g)
    for _ in range(steps):
        grad = (f - y) / n_out
        v = m * v - lr * k_dd @ grad
        w = m * w - lr * k_td @ grad
        f, g = f + v, g + w
    out = predict.gradient_descent(mse, k_dd, y, learning_rate=lr, momentum=m)(
        float(steps), predict.ODEState(f0, g0), None, k_td
    )
    moved = np.abs(f - f0).max()
    assert moved > 0.1
    np.testing.assert_allclose(out.fx_train, f, atol=1e-3 * moved)
    np.testing.assert_allclose(out.fx_test, g, atol=1e-3 * moved)
    # NT's momentum variables are velocities per unit ODE time: v / h.
    np.testing.assert_allclose(out.qx_train, v / h, atol=1e-2 * np.abs(v / h).max())


def test_state_round_trip_resumes_training(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    predict_fn = predict.gradient_descent(
        cross_entropy, k_dd, y, learning_rate=2.0, momentum=0.9
    )
    direct = predict_fn(30.0, predict.ODEState(f0, g0), None, k_td)
    half = predict_fn(12.0, predict.ODEState(f0, g0), None, k_td)
    assert half.qx_train is not None and half.qx_test is not None
    resumed = predict_fn(18.0, half, None, k_td)
    for a, b in zip(resumed, direct, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_cross_entropy_training_decreases_the_loss(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    ts = np.array([0.0, 10.0, 100.0, 1000.0, 10000.0])
    fx_train, fx_test = predict.gradient_descent(
        cross_entropy, k_dd, y, learning_rate=1.0
    )(ts, f0, g0, k_td)
    losses = np.array([cross_entropy(f, y) for f in fx_train])
    assert np.all(np.diff(losses) < 0), losses
    assert np.all(np.isfinite(fx_test))
    np.testing.assert_array_equal(fx_train[0], f0)
    assert predict.accuracy(fx_train[-1], y) == 1.0


def test_float32_default(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    with jax.enable_x64(False):
        got = predict.gradient_descent(
            mse, k_dd.astype(np.float32), y.astype(np.float32)
        )(np.float32(3.0), f0.astype(np.float32))
        assert got.dtype == jnp.float32
    want = predict.gradient_descent_mse(k_dd, y)(3.0, f0)
    # float32 solve at its default tolerance 1e-5.
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-4, atol=1e-4)


def test_solver_budget_error(x64):
    k_dd, _, y, f0, _ = _problem()
    predict_fn = predict.gradient_descent(mse, k_dd, y, max_steps=3)
    with pytest.raises(predict.ODESolverError, match="max_steps"):
        predict_fn(1000.0, f0)


def test_argument_errors(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    plain = predict.gradient_descent(mse, k_dd, y)
    with pytest.raises(ValueError, match="momentum"):
        plain(1.0, predict.ODEState(f0, None, f0))
    with pytest.raises(ValueError, match="ODEState"):
        plain(1.0, predict.ODEState(f0), g0, k_td)
    with pytest.raises(ValueError, match="k_test_train"):
        plain(1.0, f0, g0)
    with pytest.raises(ValueError, match="non-negative"):
        plain(-1.0, f0)


def test_return_conventions(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    predict_fn = predict.gradient_descent(mse, k_dd, y)
    assert predict_fn(1.0, f0).shape == y.shape
    test_only = predict_fn(1.0, None, g0, k_td)
    assert test_only.shape == (N_TEST, CLASSES)
    # fx_train_0=None: the train outputs start at 0 for the dynamics (NT).
    np.testing.assert_allclose(test_only, predict_fn(1.0, 0.0, g0, k_td)[1], rtol=1e-10)
    state = predict_fn(np.array([1.0, 2.0]), predict.ODEState(f0, g0), None, k_td)
    assert isinstance(state, predict.ODEState) and state.qx_train is None
    assert state.fx_test.shape == (2, N_TEST, CLASSES)


def test_traced_times_inside_jit(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    predict_fn = predict.gradient_descent(mse, k_dd, y)
    ts = jnp.array([2.0, 0.5])  # unsorted on purpose
    got = jax.jit(lambda t: predict_fn(t, f0, g0, k_td))(ts)
    want = predict.gradient_descent_mse(k_dd, y)(ts, f0, g0, k_td)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=ODE_RTOL, atol=ODE_RTOL * np.abs(b).max())
