"""Tests of ``nkwidgets/_predict/_metrics.py``: scores and `diag_reg` selection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nkwidgets import predict

from ._kernels import toy_kernel_fn

pytestmark = pytest.mark.filterwarnings("error")


def test_accuracy_and_mse_keep_leading_axes():
    fx = jnp.array(
        [[[2.0, 1.0], [0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]]
    )
    labels = jnp.array([0, 1, 1])
    one_hot = jax.nn.one_hot(labels, 2)
    np.testing.assert_allclose(predict.accuracy(fx, labels), [2 / 3, 1 / 3])
    np.testing.assert_allclose(predict.accuracy(fx, one_hot), [2 / 3, 1 / 3])
    want = np.mean((np.asarray(fx) - np.asarray(one_hot)) ** 2, axis=(1, 2))
    np.testing.assert_allclose(predict.mean_squared_error(fx, one_hot), want, rtol=1e-6)


def test_gaussian_nll_matches_scipy(x64):
    rng = np.random.RandomState(0)
    mean, y = rng.randn(2, 5, 3), rng.randn(5, 3)
    a = rng.randn(2, 5, 5)
    cov = a @ np.swapaxes(a, 1, 2)
    var = np.diagonal(cov, axis1=1, axis2=2) + 0.1
    want = -scipy.stats.norm.logpdf(y, mean, np.sqrt(var)[..., None]).mean(axis=(1, 2))
    np.testing.assert_allclose(
        predict.gaussian_nll(mean, cov, y, noise=0.1), want, rtol=1e-12
    )
    np.testing.assert_allclose(
        predict.gaussian_nll(mean, var - 0.1, y, noise=0.1), want, rtol=1e-12
    )
    with pytest.raises(ValueError, match="covariance"):
        predict.gaussian_nll(mean, np.ones((2,)), y)


def test_posterior_class_probabilities(x64, key):
    mean = jnp.array([[1.0, -0.5], [0.0, 0.3]])
    var = jnp.array([0.0, 2.0])
    n = 20000
    p = predict.posterior_class_probabilities(mean, var, key=key, n_samples=n)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    # Zero variance: exactly the softmax of the mean.
    np.testing.assert_allclose(p[0], jax.nn.softmax(mean[0]), rtol=1e-12)
    # Two classes: p_0 = E sigmoid(d), d ~ N(mu_0 - mu_1, 2 var), by quadrature.
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    d = (0.0 - 0.3) + np.sqrt(2 * 2.0) * nodes
    want = np.sum(weights / np.sqrt(2 * np.pi) / (1 + np.exp(-d)))
    # Monte Carlo: a probability's standard error is at most 0.5 / sqrt(n).
    assert abs(float(p[1, 0]) - want) < 5 * 0.5 / np.sqrt(n)


def test_expected_calibration_error(x64, key):
    p = jnp.array([[0.9, 0.1], [0.35, 0.65], [0.62, 0.38], [0.2, 0.8]])
    labels = jnp.array([0, 0, 0, 1])
    # Bins of width 0.1: 0.9 (hit) in bin 9; 0.65 (miss) and 0.62 (hit) share
    # bin 6; 0.8 (hit) in bin 8. Per bin |hits - sum of confidences|, over N.
    want = (abs(1 - 0.9) + abs(1 - (0.65 + 0.62)) + abs(1 - 0.8)) / 4
    assert float(predict.expected_calibration_error(p, labels)) == pytest.approx(want)
    # Calibrated by construction: correct with probability equal to confidence.
    n = 20000
    k1, k2 = jax.random.split(key)
    conf = jax.random.uniform(k1, (n,), minval=0.5, maxval=1.0)
    hit = jax.random.uniform(k2, (n,)) < conf
    probs = jnp.stack([conf, 1 - conf], axis=-1)
    ece = predict.expected_calibration_error(probs, jnp.where(hit, 0, 1))
    # Each of 5 occupied bins has ~n/5 draws: gap standard error ~ 0.5 / sqrt(n/5).
    assert float(ece) < 5 * 0.5 / np.sqrt(n / 5)


def _problem(seed=0, n=10):
    rng = np.random.RandomState(seed)
    x = jnp.asarray(rng.randn(n, 2))
    k = np.asarray(toy_kernel_fn(x, None, "nngp", length_scale=0.8))
    y = np.sin(2 * np.asarray(x)) + 0.1 * rng.randn(n, 2)
    return k, y


def test_select_diag_reg_loo_matches_refitting(x64):
    k, y = _problem()
    n = len(k)
    candidates = [1e-4, 1e-2, 0.1, 1.0]
    out = predict.select_diag_reg(k, y, candidates, "loo")
    scale = np.trace(k) / n
    for r, score in zip(candidates, out.scores, strict=True):
        errors = []
        for i in range(n):
            keep = np.arange(n) != i
            a = k[np.ix_(keep, keep)] + r * scale * np.eye(n - 1)
            errors.append(y[i] - k[i, keep] @ np.linalg.solve(a, y[keep]))
        assert score == pytest.approx(np.mean(np.square(errors)), rel=1e-8)
    assert out.diag_reg == candidates[int(np.argmin(out.scores))]
    assert out.method == "loo"


def test_select_diag_reg_marginal_likelihood_matches_scipy(x64):
    k, y = _problem()
    candidates = np.array([1e-3, 1e-2, 0.1])
    out = predict.select_diag_reg(
        k, y, candidates, "marginal_likelihood", diag_reg_absolute_scale=True
    )
    for r, score in zip(candidates, out.scores, strict=True):
        cov = k + r * np.eye(len(k))
        logp = sum(
            scipy.stats.multivariate_normal.logpdf(y[:, c], cov=cov)
            for c in range(y.shape[1])
        )
        assert score == pytest.approx(-logp / y.size, rel=1e-9)
    assert out.diag_reg == candidates[int(np.argmin(out.scores))]


def test_select_diag_reg_skips_and_reports_indefinite(x64):
    k = np.array([[1.0, 2.0], [2.0, 1.0]])
    y = np.ones((2, 1))
    out = predict.select_diag_reg(k, y, [0.0, 2.0])
    assert np.isinf(out.scores[0]) and out.diag_reg == 2.0
    with pytest.raises(predict.NotPositiveDefiniteError):
        predict.select_diag_reg(k, y, [0.0, 0.5])
    with pytest.raises(ValueError, match="method"):
        predict.select_diag_reg(k, y, [1.0], "aic")
