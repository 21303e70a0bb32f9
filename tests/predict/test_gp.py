"""Tests of ``nkwidgets/_predict/_gp.py``: exact NNGP / NTK / NTK-GP posteriors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import predict

from ._kernels import toy_kernel_fn
from ._tolerances import EXACT_RTOL

pytestmark = pytest.mark.filterwarnings("error")

RTOL = EXACT_RTOL["float64"]


def _kernels(seed=0, n_train=10, n_test=4):
    rng = np.random.RandomState(seed)
    x_train = jnp.asarray(rng.randn(n_train, 3))
    x_test = jnp.asarray(rng.randn(n_test, 3))
    y = rng.randn(n_train, 2)
    k_dd = toy_kernel_fn(x_train, None, ("nngp", "ntk"))
    k_td = toy_kernel_fn(x_test, x_train, ("nngp", "ntk"))
    k_tt = toy_kernel_fn(x_test, None, ("nngp", "ntk"))
    to_np = lambda k: k._replace(**{f: np.asarray(getattr(k, f)) for f in k._fields})  # noqa: E731
    return to_np(k_dd), to_np(k_td), to_np(k_tt), y


def _ridge(k, diag_reg):
    return k + diag_reg * np.trace(k) / k.shape[0] * np.eye(k.shape[0])


@pytest.mark.parametrize("diag_reg", [0.0, 1e-2])
def test_posteriors_match_direct_formulas(x64, diag_reg):
    k_dd, k_td, k_tt, y = _kernels()
    out = predict.gp_inference(k_dd, y, diag_reg=diag_reg)(
        ("nngp", "ntk", "ntkgp"), k_td, k_tt
    )
    assert out._fields == ("nngp", "ntk", "ntkgp")

    k_inv = np.linalg.inv(_ridge(k_dd.nngp, diag_reg))
    np.testing.assert_allclose(out.nngp.mean, k_td.nngp @ k_inv @ y, rtol=RTOL)
    np.testing.assert_allclose(
        out.nngp.covariance,
        k_tt.nngp - k_td.nngp @ k_inv @ k_td.nngp.T,
        rtol=RTOL,
        atol=RTOL,
    )

    theta_inv = np.linalg.inv(_ridge(k_dd.ntk, diag_reg))
    a = k_td.ntk @ theta_inv  # f_inf(x) = f_0(x) + A (y - f_0(X))
    np.testing.assert_allclose(out.ntk.mean, a @ y, rtol=RTOL)
    # Covariance of f_0(x) - A f_0(X) with f_0 ~ GP(0, K_nngp), as in Lee et al. 2019.
    cov = k_tt.nngp + a @ k_dd.nngp @ a.T - a @ k_td.nngp.T - k_td.nngp @ a.T
    np.testing.assert_allclose(out.ntk.covariance, cov, rtol=RTOL, atol=RTOL)

    np.testing.assert_allclose(out.ntkgp.mean, out.ntk.mean, rtol=RTOL)
    np.testing.assert_allclose(
        out.ntkgp.covariance, k_tt.ntk - a @ k_td.ntk.T, rtol=RTOL, atol=RTOL
    )


def test_get_conventions(x64):
    k_dd, k_td, k_tt, y = _kernels()
    predict_fn = predict.gp_inference(k_dd, y)
    single = predict_fn("nngp", k_td)
    assert isinstance(single, np.ndarray | jnp.ndarray) and single.shape == (4, 2)
    both = predict_fn(None, k_td)
    assert both._fields == ("nngp", "ntk")
    np.testing.assert_allclose(both.nngp, single)
    swapped = predict_fn(("ntk", "nngp"), k_td, k_tt)
    assert swapped._fields == ("ntk", "nngp")
    assert isinstance(swapped.ntk, predict.Gaussian)


def test_train_set_predictions(x64):
    k_dd, _, _, y = _kernels()
    out = predict.gp_inference(k_dd, y, diag_reg=0.1)("nngp", None, True)
    np.testing.assert_array_equal(out.mean, y)
    np.testing.assert_array_equal(out.covariance, np.zeros_like(k_dd.nngp))
    # Regularised train predictions, NT's way: k_test_train=k_train_train.
    regularised = predict.gp_inference(k_dd, y, diag_reg=0.1)("nngp", k_dd)
    expected = k_dd.nngp @ np.linalg.solve(_ridge(k_dd.nngp, 0.1), y)
    np.testing.assert_allclose(regularised, expected, rtol=RTOL)


def test_array_kernel_serves_every_mode_but_not_ntk_covariance(x64):
    k_dd, k_td, k_tt, y = _kernels()
    predict_fn = predict.gp_inference(k_dd.ntk, y)
    out = predict_fn(("nngp", "ntk"), k_td.ntk)
    np.testing.assert_allclose(out.nngp, out.ntk)
    predict_fn("nngp", k_td.ntk, k_tt.ntk)  # an array is any kernel
    ntkgp = predict_fn("ntkgp", k_td.ntk, k_tt.ntk)  # NTK-GP needs the NTK only
    a = k_td.ntk @ np.linalg.inv(k_dd.ntk)
    np.testing.assert_allclose(
        ntkgp.covariance, k_tt.ntk - a @ k_td.ntk.T, rtol=RTOL, atol=RTOL
    )
    with pytest.raises(ValueError, match="needs both NNGP and NTK"):
        predict_fn("ntk", k_td.ntk, k_tt.ntk)


def test_trace_axes_match_block_diagonal_kernel(x64):
    k_dd, k_td, k_tt, y = _kernels()
    eye = np.eye(y.shape[1])
    zipped = lambda k: k[:, :, None, None] * eye  # noqa: E731
    traced = predict.gp_inference(k_dd.nngp, y)("nngp", k_td.nngp, k_tt.nngp)
    full = predict.gp_inference(zipped(k_dd.nngp), y, trace_axes=())(
        "nngp", zipped(k_td.nngp), zipped(k_tt.nngp)
    )
    np.testing.assert_allclose(full.mean, traced.mean, rtol=1e-10)
    np.testing.assert_allclose(
        full.covariance, zipped(np.asarray(traced.covariance)), rtol=1e-10, atol=1e-12
    )


def test_unknown_mode(x64):
    k_dd, k_td, _, y = _kernels()
    with pytest.raises(ValueError, match="get"):
        predict.gp_inference(k_dd, y)("nngpp", k_td)
