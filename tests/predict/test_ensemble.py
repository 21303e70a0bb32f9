"""Tests of ``nkwidgets/_predict/_ensemble.py``: infinite ensembles trained on MSE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from nkwidgets import predict

from .._tolerances import CLOSED_FORM_RTOL
from ._kernels import relu_kernel_fn, toy_kernel_fn
from ._tolerances import EXACT_RTOL, MC_SIGMAS, MC_WIDTH_BIAS

pytestmark = pytest.mark.filterwarnings("error")

RTOL = EXACT_RTOL["float64"]


def _data(seed=0, n_train=9, n_test=4, dim=3, classes=2):
    rng = np.random.RandomState(seed)
    x_train = jnp.asarray(rng.randn(n_train, dim))
    x_test = jnp.asarray(rng.randn(n_test, dim))
    y = jnp.asarray(rng.randn(n_train, classes))
    return x_train, x_test, y


def _np_kernels(kernel_fn, x_train, x_test):
    to_np = lambda k: k._replace(**{f: np.asarray(getattr(k, f)) for f in k._fields})  # noqa: E731
    get = ("nngp", "ntk")
    return (
        to_np(kernel_fn(x_train, None, get)),
        to_np(kernel_fn(x_test, x_train, get)),
        to_np(kernel_fn(x_test, None, get)),
    )


def _ridge(k, diag_reg):
    return k + diag_reg * np.trace(k) / k.shape[0] * np.eye(k.shape[0])


@pytest.mark.parametrize("diag_reg", [0.0, 1e-2])
def test_finite_time_matches_matrix_exponential(x64, diag_reg):
    x_train, x_test, y = _data()
    k_dd, k_td, k_tt = _np_kernels(toy_kernel_fn, x_train, x_test)
    lr, ts = 0.7, np.array([0.5, 4.0, 30.0])
    n_out = y.size
    predict_fn = predict.gradient_descent_mse_ensemble(
        toy_kernel_fn, x_train, y, learning_rate=lr, diag_reg=diag_reg
    )
    test = predict_fn(ts, x_test, ("nngp", "ntk"), compute_cov=True)
    train = predict_fn(ts, None, ("nngp", "ntk"), compute_cov=True)
    y = np.asarray(y)
    for i, t in enumerate(ts * lr):
        # NTK: A_t = Theta_td Theta^{-1} (I - e^{-Theta t / N}), Theta regularised;
        # covariance of f_0(x) - A_t f_0(X), f_0 ~ GP(0, K) (Lee et al. 2019).
        theta = _ridge(k_dd.ntk, diag_reg)
        decay = scipy.linalg.expm(-theta * t / n_out)
        a = k_td.ntk @ np.linalg.solve(theta, np.eye(len(theta)) - decay)
        cov = k_tt.nngp + a @ k_dd.nngp @ a.T - a @ k_td.nngp.T - k_td.nngp @ a.T
        np.testing.assert_allclose(test.ntk.mean[i], a @ y, rtol=RTOL, atol=RTOL)
        np.testing.assert_allclose(test.ntk.covariance[i], cov, rtol=RTOL, atol=RTOL)
        np.testing.assert_allclose(
            train.ntk.mean[i], y - decay @ y, rtol=RTOL, atol=RTOL
        )
        np.testing.assert_allclose(
            train.ntk.covariance[i], decay @ k_dd.nngp @ decay, rtol=RTOL, atol=RTOL
        )
        # NNGP (readout-only training): NT's closed form on the regularised K,
        # K_tt - K_td K^{-1} (I - e^{-2 K t / N}) K_dt; on the train set K e^{-2Kt/N}.
        k_reg = _ridge(k_dd.nngp, diag_reg)
        decay = scipy.linalg.expm(-k_reg * t / n_out)
        a = k_td.nngp @ np.linalg.solve(k_reg, np.eye(len(k_reg)) - decay)
        cov = (
            k_tt.nngp
            - k_td.nngp
            @ np.linalg.solve(k_reg, np.eye(len(k_reg)) - decay @ decay)
            @ k_td.nngp.T
        )
        np.testing.assert_allclose(test.nngp.mean[i], a @ y, rtol=RTOL, atol=RTOL)
        np.testing.assert_allclose(test.nngp.covariance[i], cov, rtol=RTOL, atol=RTOL)
        np.testing.assert_allclose(
            train.nngp.covariance[i], k_reg @ decay @ decay, rtol=RTOL, atol=RTOL
        )
        if diag_reg == 0:
            # Unregularised, the NNGP formula is the general one with Theta = K.
            general = (
                k_tt.nngp + a @ k_dd.nngp @ a.T - a @ k_td.nngp.T - k_td.nngp @ a.T
            )
            np.testing.assert_allclose(
                test.nngp.covariance[i], general, rtol=1e-7, atol=1e-9
            )


@pytest.mark.parametrize("diag_reg", [0.0, 1e-3])
def test_infinite_time_is_gp_inference(x64, diag_reg):
    x_train, x_test, y = _data()
    k_dd, k_td, k_tt = _np_kernels(toy_kernel_fn, x_train, x_test)
    ensemble = predict.gradient_descent_mse_ensemble(
        toy_kernel_fn, x_train, y, diag_reg=diag_reg
    )
    gp = predict.gp_inference(k_dd, y, diag_reg=diag_reg)
    want = gp(("nngp", "ntk"), k_td, k_tt)
    for t in (None, np.inf):
        got = ensemble(t, x_test, None, compute_cov=True)
        for g in ("nngp", "ntk"):
            for field in ("mean", "covariance"):
                # Eigenbasis (ours) vs Cholesky solve: both backward stable.
                np.testing.assert_allclose(
                    getattr(getattr(got, g), field),
                    getattr(getattr(want, g), field),
                    rtol=1e-7,
                    atol=1e-9,
                )
    means = ensemble(None, x_test, "ntk")
    np.testing.assert_allclose(means, want.ntk.mean, rtol=1e-7)
    train = ensemble(None, None, "nngp", compute_cov=True)
    np.testing.assert_allclose(train.mean, y, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(train.covariance, 0, atol=1e-8)


def test_kernel_fn_kwargs(x64):
    x_train, x_test, y = _data()
    predict_fn = predict.gradient_descent_mse_ensemble(
        toy_kernel_fn, x_train, y, length_scale=0.7
    )
    k_dd = toy_kernel_fn(x_train, None, ("nngp", "ntk"), length_scale=0.7)
    k_td = toy_kernel_fn(x_test, x_train, ("nngp", "ntk"), length_scale=0.7)
    want = predict.gp_inference(k_dd, y)("ntk", k_td)
    np.testing.assert_allclose(predict_fn(None, x_test, "ntk"), want, rtol=1e-7)
    np.testing.assert_allclose(
        predict_fn(None, x_test, "ntk", length_scale=0.7), want, rtol=1e-7
    )
    with pytest.raises(ValueError, match="length_scale"):
        predict_fn(None, x_test, "ntk", length_scale=0.5)


def test_shapes_and_get(x64):
    x_train, x_test, y = _data()
    predict_fn = predict.gradient_descent_mse_ensemble(toy_kernel_fn, x_train, y)
    ts = np.ones((2, 3))
    out = predict_fn(ts, x_test, None, compute_cov=True)
    assert out._fields == ("nngp", "ntk")
    assert out.ntk.mean.shape == (2, 3, 4, 2)
    assert out.ntk.covariance.shape == (2, 3, 4, 4)
    assert predict_fn(1.0, x_test, "nngp").shape == (4, 2)
    with pytest.raises(ValueError, match="'nngp' or 'ntk'"):
        predict_fn(1.0, x_test, "ntkgp")


# --- Monte Carlo: an ensemble of finite, wide, linearised ReLU networks --------

WIDTH = 1024
N_NETS = 2000
W1_STD, B1_STD, W2_STD, B2_STD = 1.4, 0.3, 1.1, 0.2


def _init(key, dim):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    hidden = (jax.random.normal(k1, (WIDTH, dim)), jax.random.normal(k2, (WIDTH,)))
    readout = (jax.random.normal(k3, (WIDTH,)), jax.random.normal(k4, ()))
    return hidden, readout


def _apply(hidden, readout, x):
    """f(x) = w2 W2 relu(w1 W1 x / sqrt(d) + b1 b1) / sqrt(n) + b2 b2 (NTK param.)."""
    w1, b1 = hidden
    w2, b2 = readout
    h = W1_STD * x @ w1.T / np.sqrt(x.shape[1]) + B1_STD * b1[None, :]
    return W2_STD * jax.nn.relu(h) @ w2 / np.sqrt(WIDTH) + B2_STD * b2


def _trained_test_outputs(key, x_train, y, x_test, times, readout_only):
    """Outputs at `times` of one linearised network trained by MSE gradient flow.

    Parameter-space flow of the linearised model: the parameters move by
    dtheta = -J^T Theta^{-1} (I - e^{-Theta t / N}) (f_0(X) - y) with
    Theta = J J^T the empirical NTK (of the trained parameters only), and the
    test outputs follow as f_0(x) + J(x) dtheta.
    """
    hidden, readout = _init(key, x_train.shape[1])
    if readout_only:
        params = readout
        train_fn = lambda p: _apply(hidden, p, x_train)  # noqa: E731
        test_fn = lambda p: _apply(hidden, p, x_test)  # noqa: E731
    else:
        params = (hidden, readout)
        train_fn = lambda p: _apply(*p, x_train)  # noqa: E731
        test_fn = lambda p: _apply(*p, x_test)  # noqa: E731
    f0_train, jvp_train = jax.linearize(train_fn, params)
    f0_test, jvp_test = jax.linearize(test_fn, params)
    vjp_train = jax.linear_transpose(jvp_train, params)
    n = x_train.shape[0]
    theta = jax.vmap(lambda e: jvp_train(vjp_train(e)[0]))(jnp.eye(n))
    lam, vecs = jnp.linalg.eigh(theta)
    residual = vecs.T @ (f0_train - y)

    def at(t):
        factor = jnp.where(jnp.isinf(t), 1 / lam, -jnp.expm1(-lam * t / n) / lam)
        coeff = vecs @ (factor * residual)
        dtheta = jax.tree_util.tree_map(lambda a: -a, vjp_train(coeff)[0])
        return f0_test + jvp_test(dtheta)

    return jax.vmap(at)(times)


@pytest.mark.slow
@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_matches_ensemble_of_wide_linearised_networks(x64, key, get):
    x_train, x_test, y = _data(seed=1, n_train=6, n_test=3, classes=1)
    y = y[:, 0]
    times = jnp.array([3.0, jnp.inf])
    sample = jax.jit(
        jax.vmap(
            lambda k: _trained_test_outputs(k, x_train, y, x_test, times, get == "nngp")
        )
    )
    keys = jax.random.split(key, N_NETS)
    outs = np.concatenate(
        [np.asarray(sample(ks)) for ks in np.split(keys, 4)]
    )  # (S, T, m)

    kernel_fn = relu_kernel_fn(W1_STD, B1_STD, W2_STD, B2_STD)
    want = predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y[:, None])(
        times, x_test, get, compute_cov=True
    )
    for i in range(len(times)):
        mean = np.asarray(want.mean[i, :, 0])
        cov = np.asarray(want.covariance[i])
        emp_mean = outs[:, i].mean(axis=0)
        emp_cov = np.cov(outs[:, i], rowvar=False)
        var = np.diag(cov)
        # Standard errors of a sample mean / covariance of N_NETS draws (Gaussian
        # approximation); MC_SIGMAS of them plus the O(1/width) finite-width bias,
        # allowed as MC_WIDTH_BIAS of the output scale.
        se_mean = np.sqrt(var / N_NETS)
        se_cov = np.sqrt((np.outer(var, var) + cov**2) / N_NETS)
        scale = np.sqrt(np.outer(var, var))
        np.testing.assert_array_less(
            np.abs(emp_mean - mean), MC_SIGMAS * se_mean + MC_WIDTH_BIAS * np.sqrt(var)
        )
        np.testing.assert_array_less(
            np.abs(emp_cov - cov), MC_SIGMAS * se_cov + MC_WIDTH_BIAS * scale
        )


def test_with_stax_kernel_fn(x64):
    from nkwidgets import stax  # a failure here is a real regression of stax

    _, _, stax_kernel_fn = stax.serial(
        stax.Dense(512, W_std=W1_STD, b_std=B1_STD),
        stax.Relu(),
        stax.Dense(1, W_std=W2_STD, b_std=B2_STD),
    )
    ours = relu_kernel_fn(W1_STD, B1_STD, W2_STD, B2_STD)
    x_train, x_test, y = _data(seed=2, n_train=7, n_test=3, classes=2)
    ts = jnp.array([1.0, 10.0, jnp.inf])
    got = predict.gradient_descent_mse_ensemble(
        stax_kernel_fn, x_train, y, diag_reg=1e-4
    )(ts, x_test, compute_cov=True)
    want = predict.gradient_descent_mse_ensemble(ours, x_train, y, diag_reg=1e-4)(
        ts, x_test, compute_cov=True
    )
    rtol = CLOSED_FORM_RTOL["float64"]
    for g in ("nngp", "ntk"):
        for a, b in zip(getattr(got, g), getattr(want, g), strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
