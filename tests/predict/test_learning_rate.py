"""Tests of ``nkwidgets/_predict/_learning_rate.py``: the largest stable MSE step."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import predict

pytestmark = pytest.mark.filterwarnings("error")


def _kernel(evals, seed=0):
    q, _ = np.linalg.qr(np.random.RandomState(seed).randn(len(evals), len(evals)))
    return (q * np.asarray(evals)) @ q.T


def test_two_over_top_eigenvalue(x64):
    k = _kernel([0.5, 1.0, 4.0])
    # 2 n / lambda_max with n the number of outputs (rows, trace_axes=()).
    assert predict.max_learning_rate(k) == pytest.approx(2 * 3 / 4.0, rel=1e-12)
    assert predict.max_learning_rate(k, y_train_size=30) == pytest.approx(
        2 * 30 / 4.0, rel=1e-12
    )
    assert predict.max_learning_rate(k, momentum=0.5) == pytest.approx(
        2 * 1.5 * 3 / 4.0, rel=1e-12
    )
    assert predict.max_learning_rate(np.zeros((2, 2)), eps=0.5) == pytest.approx(8.0)
    assert isinstance(predict.max_learning_rate(k), float)


def test_zipped_kernel_counts_all_outputs(x64):
    k = _kernel([1.0, 2.0, 8.0])
    zipped = k[:, :, None, None] * np.eye(2)  # trace_axes=() kernel of (3, 2) outputs
    assert predict.max_learning_rate(zipped) == pytest.approx(2 * 6 / 8.0, rel=1e-12)


@pytest.mark.parametrize(("factor", "converges"), [(0.98, True), (1.02, False)])
def test_boundary_of_discrete_gradient_descent(x64, factor, converges):
    k = _kernel([0.3, 1.0, 2.5, 6.0])
    y = np.ones((4, 1))
    lr = factor * predict.max_learning_rate(k, y_train_size=y.size)
    f = np.zeros_like(y)
    for _ in range(2000):
        f = f - lr * k @ (f - y) / y.size
    assert (np.abs(f - y).max() < 1e-6) == converges


def test_traced_kernel_gives_array(x64):
    import jax

    out = jax.jit(predict.max_learning_rate)(jnp.asarray(_kernel([1.0, 4.0])))
    assert float(out) == pytest.approx(1.0, rel=1e-12)
