"""Tests of ``nkwidgets/_predict/_linalg.py`` and ``_errors.py``: checked factorisations."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import predict
from nkwidgets.errors import NKError

from ._kernels import toy_kernel_fn

pytestmark = pytest.mark.filterwarnings("error")

INDEFINITE = np.array(
    [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
)  # eigs -1, 1, 3
Y3 = np.arange(6.0).reshape(3, 2)

# Kernels are factorised on first use, so every case makes a prediction.
PREDICTIONS = {
    "eigh": lambda k, **kw: predict.gradient_descent_mse(k, Y3, **kw)(1.0, 0.0),
    "cholesky_then_eigh": lambda k, **kw: predict.gradient_descent_mse(k, Y3, **kw)(
        None, 0.0, 0.0, k
    ),
    "cholesky": lambda k, **kw: predict.gp_inference(k, Y3, **kw)("nngp", k),
}


def _spectrum_kernel(evals, seed=0):
    q, _ = np.linalg.qr(np.random.RandomState(seed).randn(len(evals), len(evals)))
    return (q * evals) @ q.T


@pytest.mark.parametrize("predict_with", PREDICTIONS.values(), ids=PREDICTIONS.keys())
def test_indefinite_kernel_raises_with_working_suggestion(x64, predict_with):
    with pytest.raises(predict.NotPositiveDefiniteError) as info:
        predict_with(INDEFINITE)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, NKError)
    message = str(err)
    assert "not positive definite" in message and "diag_reg" in message
    assert err.min_eigenvalue == pytest.approx(-1.0)
    # Relative units: the mean diagonal is 1, so about 1 plus a margin.
    assert 1.0 < err.suggested_diag_reg <= 2.0
    assert f"{err.suggested_diag_reg:g}" in message
    predict_with(INDEFINITE, diag_reg=err.suggested_diag_reg)  # the advice works


def test_suggestion_in_absolute_units(x64):
    predict_with = PREDICTIONS["eigh"]
    with pytest.raises(
        predict.NotPositiveDefiniteError, match="absolute units"
    ) as info:
        predict_with(3 * INDEFINITE, diag_reg_absolute_scale=True)
    assert 3.0 < info.value.suggested_diag_reg <= 6.0
    predict_with(
        3 * INDEFINITE,
        diag_reg=info.value.suggested_diag_reg,
        diag_reg_absolute_scale=True,
    )


def test_singular_kernel_fails_cholesky_but_flows(x64):
    x = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])  # a duplicated input
    k = np.asarray(toy_kernel_fn(jnp.asarray(x), None, "nngp"))
    with pytest.raises(predict.NotPositiveDefiniteError) as info:
        predict.gp_inference(k, Y3)("nngp", k)
    assert 0 < info.value.suggested_diag_reg < 1e-6
    predict.gp_inference(k, Y3, diag_reg=info.value.suggested_diag_reg)("nngp", k)
    # Gradient flow never moves the null direction: t=None (no Cholesky factor,
    # so the eigendecomposition) is finite and fits the average of the
    # duplicated targets, the pseudo-inverse solution.
    fx = predict.gradient_descent_mse(k, Y3)(None, 0.0, 0.0, k)[1]
    assert np.all(np.isfinite(fx))
    np.testing.assert_allclose(fx[0], (Y3[0] + Y3[1]) / 2, rtol=1e-8)


def test_nan_kernel_says_no_diag_reg_helps(x64):
    k = np.eye(3)
    k[0, 1] = k[1, 0] = np.nan
    for predict_with in PREDICTIONS.values():
        with pytest.raises(predict.NotPositiveDefiniteError, match="NaN") as info:
            predict_with(k)
        assert math.isnan(info.value.suggested_diag_reg)


def test_round_off_negative_eigenvalues_are_accepted(x64):
    n = 6
    eps = np.finfo(np.float64).eps
    y = np.ones((n, 1))
    # -n * eps * lam_max is within the ROUNDOFF_SAFETY (10x) allowance ...
    predict.gradient_descent_mse(_spectrum_kernel([-n * eps, 1, 2, 3, 4, 5.0]), y)(1.0)
    # ... -1e-6 * lam_max is not round-off.
    with pytest.raises(predict.NotPositiveDefiniteError):
        predict.gradient_descent_mse(_spectrum_kernel([-5e-6, 1, 2, 3, 4, 5.0]), y)(1.0)


def test_ensemble_kernel_fn_that_is_not_psd(x64):
    def kernel_fn(x1, x2, get, **kwargs):
        k = toy_kernel_fn(x1, x2, get)
        if x2 is None and x1.shape[0] == 3 and not isinstance(get, str):
            k = k._replace(ntk=jnp.asarray(INDEFINITE))  # the train-train NTK
        return k

    predict_fn = predict.gradient_descent_mse_ensemble(
        kernel_fn, jnp.zeros((3, 2)), jnp.asarray(Y3)
    )
    x_test = jnp.ones((1, 2))
    predict_fn(1.0, x_test, "nngp")  # the NNGP itself is fine
    for t in (1.0, None):
        with pytest.raises(predict.NotPositiveDefiniteError, match="ntk"):
            predict_fn(t, x_test, "ntk")


def test_traced_kernels_fail_inside_jit_with_the_message(x64):
    @jax.jit
    def run(k):
        return predict.gradient_descent_mse(k, Y3)(1.0, 0.0)

    np.testing.assert_allclose(
        run(np.eye(3)), predict.gradient_descent_mse(np.eye(3), Y3)(1.0, 0.0)
    )
    with pytest.raises(Exception, match="not positive semi-definite"):
        jax.block_until_ready(run(INDEFINITE))
