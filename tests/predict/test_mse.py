"""Tests of ``nkwidgets/_predict/_mse.py``: closed-form gradient flow on MSE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import predict

from ._kernels import toy_kernel_fn
from ._tolerances import EXACT_RTOL

pytestmark = pytest.mark.filterwarnings("error")

N_TRAIN, N_TEST, N_CLASSES, DIM = 12, 5, 3, 4


def _problem(seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    x_train = rng.randn(N_TRAIN, DIM)
    x_test = rng.randn(N_TEST, DIM)
    y = rng.randn(N_TRAIN, N_CLASSES)
    k_dd = np.asarray(toy_kernel_fn(jnp.asarray(x_train), None, "ntk"))
    k_td = np.asarray(toy_kernel_fn(jnp.asarray(x_test), jnp.asarray(x_train), "ntk"))
    fx_train_0 = 0.3 * rng.randn(N_TRAIN, N_CLASSES)
    fx_test_0 = 0.3 * rng.randn(N_TEST, N_CLASSES)
    return tuple(a.astype(dtype) for a in (k_dd, k_td, y, fx_train_0, fx_test_0))


@pytest.mark.parametrize("t", [None, np.inf])
@pytest.mark.parametrize(
    ("diag_reg", "absolute"), [(0.0, False), (1e-2, False), (0.3, True)]
)
def test_infinite_time_is_kernel_ridge_regression(x64, t, diag_reg, absolute):
    k_dd, k_td, y, f0, g0 = _problem()
    predict_fn = predict.gradient_descent_mse(
        k_dd, y, diag_reg=diag_reg, diag_reg_absolute_scale=absolute
    )
    fx_train, fx_test = predict_fn(t, f0, g0, k_td)

    ridge = diag_reg if absolute else diag_reg * np.trace(k_dd) / N_TRAIN
    expected_test = g0 + k_td @ np.linalg.solve(k_dd + ridge * np.eye(N_TRAIN), y - f0)
    rtol = EXACT_RTOL["float64"]
    np.testing.assert_allclose(fx_test, expected_test, rtol=rtol, atol=rtol)
    # The flow on the regularised kernel still fits the train targets exactly.
    np.testing.assert_allclose(fx_train, y, rtol=rtol, atol=rtol)
    # NT's recipe for regularised train predictions: k_test_train=k_train_train.
    regularised = predict_fn(t, f0, f0, k_dd)[1]
    expected = f0 + k_dd @ np.linalg.solve(k_dd + ridge * np.eye(N_TRAIN), y - f0)
    np.testing.assert_allclose(regularised, expected, rtol=rtol, atol=rtol)


def test_time_zero_returns_initial_outputs(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    fx_train, fx_test = predict.gradient_descent_mse(k_dd, y)(0.0, f0, g0, k_td)
    # exp(0) - 1 is exactly 0, so nothing moves: exact equality.
    np.testing.assert_array_equal(fx_train, f0)
    np.testing.assert_array_equal(fx_test, g0)


def test_intermediate_time_matches_discrete_gradient_descent(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    n_outputs = y.size
    lam_max = np.linalg.eigvalsh(k_dd)[-1]
    # Step x = lr * lam / N <= 1e-4 per step; Euler's per-step factor 1 - x
    # differs from exp(-x) by x^2 / 2, so after k steps a mode is off by at most
    # k x^2 / 2 = 2.5e-5 of its initial residual.
    lr = 1e-4 * n_outputs / lam_max
    steps = 5000
    f, g = f0.copy(), g0.copy()
    for _ in range(steps):
        residual = f - y
        f, g = (
            f - lr * k_dd @ residual / n_outputs,
            g - lr * k_td @ residual / n_outputs,
        )
    fx_train, fx_test = predict.gradient_descent_mse(k_dd, y, learning_rate=lr)(
        steps, f0, g0, k_td
    )
    bound = steps * 1e-4**2 / 2 * np.abs(f0 - y).max()
    # The test outputs integrate the train residual against k_td: same relative
    # bound, times |k_td| / lam_min-ish factors that stay below 10 here.
    np.testing.assert_allclose(fx_train, f, rtol=0, atol=2 * bound)
    np.testing.assert_allclose(fx_test, g, rtol=0, atol=10 * bound)
    assert np.abs(fx_train - f0).max() > 100 * bound  # the flow did move


def test_time_array_matches_loop_over_scalars(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    predict_fn = predict.gradient_descent_mse(k_dd, y, learning_rate=0.5, diag_reg=1e-3)
    ts = np.array([[0.0, 0.5, 3.0], [10.0, 40.0, np.inf]])
    fx_train, fx_test = predict_fn(ts, f0, g0, k_td)
    assert fx_train.shape == ts.shape + y.shape
    assert fx_test.shape == ts.shape + (N_TEST, N_CLASSES)
    for idx in np.ndindex(ts.shape):
        one_train, one_test = predict_fn(ts[idx], f0, g0, k_td)
        # Same formulas; only the BLAS blocking of the batched product differs.
        np.testing.assert_allclose(fx_train[idx], one_train, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(fx_test[idx], one_test, rtol=1e-12, atol=1e-14)


def test_learning_rate_and_time_are_interchangeable(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    a = predict.gradient_descent_mse(k_dd, y, learning_rate=2.0)(3.0, f0, g0, k_td)
    b = predict.gradient_descent_mse(k_dd, y, learning_rate=1.0)(6.0, f0, g0, k_td)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)


def test_return_conventions(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    predict_fn = predict.gradient_descent_mse(k_dd, y)
    train_only = predict_fn(2.0, f0)
    assert train_only.shape == y.shape
    both = predict_fn(2.0, f0, g0, k_td)
    np.testing.assert_allclose(both[0], train_only, rtol=1e-12)
    # fx_train_0=None: test outputs only, with the flow started from f(X) = 0.
    test_only = predict_fn(2.0, None, g0, k_td)
    np.testing.assert_allclose(test_only, predict_fn(2.0, 0.0, g0, k_td)[1], rtol=1e-12)
    # Scalars broadcast to the output shape.
    np.testing.assert_allclose(predict_fn(2.0, 0.0), predict_fn(2.0, np.zeros_like(y)))


def test_trace_axes_match_block_diagonal_kernel(x64):
    k_dd, k_td, y, f0, g0 = _problem()
    traced = predict.gradient_descent_mse(k_dd, y)(5.0, f0, g0, k_td)
    eye = np.eye(N_CLASSES)
    # Zipped layout (N1, N2, C1, C2) of Theta ⊗ I.
    full_dd = k_dd[:, :, None, None] * eye[None, None]
    full_td = k_td[:, :, None, None] * eye[None, None]
    untraced = predict.gradient_descent_mse(full_dd, y, trace_axes=())(
        5.0, f0, g0, full_td
    )
    np.testing.assert_allclose(untraced[0], traced[0], rtol=1e-10)
    np.testing.assert_allclose(untraced[1], traced[1], rtol=1e-10)
    # Trace axis first: outputs (C, N), same kernel.
    first = predict.gradient_descent_mse(k_dd, y.T, trace_axes=(0,))(
        5.0, f0.T, g0.T, k_td
    )
    np.testing.assert_allclose(first[0], traced[0].T, rtol=1e-10)
    np.testing.assert_allclose(first[1], traced[1].T, rtol=1e-10)


def test_dtypes_follow_the_kernel():
    k_dd, k_td, y, f0, g0 = _problem(dtype=np.float32)
    out = predict.gradient_descent_mse(k_dd, y)(jnp.array([1.0, 2.0]), f0, g0, k_td)
    assert out[0].dtype == jnp.float32 and out[1].dtype == jnp.float32
    with jax.enable_x64(True):
        k_dd, k_td, y, f0, g0 = _problem()
        out = predict.gradient_descent_mse(k_dd, y)(1.0, f0, g0, k_td)
        assert out[0].dtype == jnp.float64 and out[1].dtype == jnp.float64


def test_float32_close_to_float64(x64):
    k64 = _problem()
    with jax.enable_x64(False):
        k32 = _problem(dtype=np.float32)
        out32 = predict.gradient_descent_mse(k32[0], k32[2])(
            np.array([1.0, np.inf], np.float32), k32[3], k32[4], k32[1]
        )
        out32 = [np.asarray(o, np.float64) for o in out32]
    out64 = predict.gradient_descent_mse(k64[0], k64[2])(
        np.array([1.0, np.inf]), k64[3], k64[4], k64[1]
    )
    rtol = EXACT_RTOL["float32"]
    for a, b in zip(out32, out64, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


def test_works_under_jit(x64):
    k_dd, k_td, y, f0, g0 = _problem()

    @jax.jit
    def run(k, t):
        return predict.gradient_descent_mse(k, y)(t, f0, g0, k_td)

    got = run(k_dd, 3.0)
    want = predict.gradient_descent_mse(k_dd, y)(3.0, f0, g0, k_td)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10)


def test_gradients_through_infinite_time_prediction(x64):
    """KIP-style use: differentiate a test loss through the train kernel."""
    k_dd, k_td, y, f0, g0 = _problem()

    def loss(scale):
        out = predict.gradient_descent_mse(k_dd * scale, y)(
            None, 0.0, 0.0, k_td * scale
        )
        return jnp.sum(out[1] ** 2)

    # The prediction K_td K^{-1} y is invariant to scaling both kernels.
    assert abs(jax.grad(loss)(1.3)) < 1e-8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(fx_train_0=None, fx_test_0=None), "nothing to predict"),
        (dict(fx_test_0=0.0), "k_test_train"),
        (dict(t=-1.0), "non-negative"),
        (dict(fx_train_0=np.zeros((3, 3))), "does not broadcast"),
        (
            dict(fx_test_0=0.0, k_test_train=np.zeros((N_TEST, N_TRAIN + 1))),
            "k_test_train",
        ),
    ],
)
def test_bad_arguments_raise(x64, kwargs, match):
    k_dd, _, y, _, _ = _problem()
    call = dict(t=1.0, fx_train_0=0.0)
    call.update(kwargs)
    with pytest.raises(ValueError, match=match):
        predict.gradient_descent_mse(k_dd, y)(**call)


def test_kernel_shape_is_checked(x64):
    k_dd, _, y, _, _ = _problem()
    with pytest.raises(ValueError, match="zipped kernel"):
        predict.gradient_descent_mse(k_dd[:-1, :-1], y)
    with pytest.raises(ValueError, match="out of range"):
        predict.gradient_descent_mse(k_dd, y, trace_axes=(2,))
