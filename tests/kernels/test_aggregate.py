"""Aggregate (graph networks): Monte Carlo, node permutations, an independent formula."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import LayerError

from .._monte_carlo import assert_mc_close, monte_carlo_kernels
from .._tolerances import CLOSED_FORM_RTOL


def _graphs(n, v, seed):
    rng = np.random.RandomState(seed)
    x = rng.standard_normal((n, v, 3))
    a = (rng.uniform(size=(n, v, v)) < 0.4).astype(float)
    return x, a


def _gnn(width=1024, n_out=64):
    # One hidden layer between two aggregations: the readout averages hidden
    # channels with independent weights, so the Monte Carlo mean is unbiased.
    return stax.serial(
        stax.Aggregate(),
        stax.Dense(width, W_std=1.4, b_std=0.2),
        stax.Relu(),
        stax.Aggregate(),
        stax.GlobalSumPool(),
        stax.Dense(n_out, W_std=1.2, b_std=0.1),
    )


def test_monte_carlo(key):
    """200 finite GNNs; tolerance 5 standard errors + 2 % of the scale."""
    x1, a1 = _graphs(3, 5, 0)
    x2, a2 = _graphs(2, 5, 1)
    net = _gnn()
    analytic = net.kernel_fn(x1, x2, ("nngp", "ntk"), pattern=(a1, a2))
    init_fn, apply_fn, _ = net
    both = jnp.concatenate([a1, a2])
    finite = (init_fn, lambda p, x, **kw: apply_fn(p, x, pattern=both, **kw), None)
    mc = monte_carlo_kernels(
        finite,
        jnp.asarray(x1),
        jnp.asarray(x2),
        (-1, 5, 3),
        n_samples=200,
        key=key,
        batch=200,
    )
    assert_mc_close(mc["nngp"], analytic.nngp, "nngp")
    assert_mc_close(mc["ntk"], analytic.ntk, "ntk")


def test_node_permutation_permutes_the_kernel(x64):
    x, a = _graphs(3, 6, 2)
    perm = np.random.RandomState(9).permutation(6)
    xp, ap = x[:, perm], a[:, perm][:, :, perm]
    full = stax.serial(
        stax.Dense(8, b_std=0.1),
        stax.Relu(),
        stax.Aggregate(),
        stax.Dense(8),
        stax.Erf(),
        stax.Aggregate(),
    )
    k = np.asarray(full.kernel_fn(x, None, "nngp", pattern=a))
    kp = np.asarray(full.kernel_fn(xp, None, "nngp", pattern=ap))
    np.testing.assert_allclose(kp, k[:, :, perm][:, :, :, perm], rtol=1e-12, atol=1e-14)
    pooled = stax.serial(full, stax.GlobalAvgPool(), stax.Dense(1))
    np.testing.assert_allclose(
        pooled.kernel_fn(xp, None, "ntk", pattern=ap),
        pooled.kernel_fn(x, None, "ntk", pattern=a),
        rtol=1e-12,
    )


def test_closed_form_and_sparse_agree(x64):
    """K' = A1^T K A2 by numpy; edge lists give the same kernel as adjacencies."""
    x1, a1 = _graphs(2, 5, 3)
    x2, a2 = _graphs(3, 5, 4)
    k = stax.Aggregate().kernel_fn(x1, x2, "nngp", pattern=(a1, a2))
    k_in = np.einsum("iac,jbc->ijab", x1, x2) / 3
    want = np.einsum("iaA,ijab,jbB->ijAB", a1, k_in, a2)
    np.testing.assert_allclose(k, want, rtol=CLOSED_FORM_RTOL["float64"])

    def edges(a):
        n, v, _ = a.shape
        e = np.full((n, v * v, 1, 2), -1, np.int32)  # negative = padding edge
        for i in range(n):
            t, h = np.nonzero(a[i])
            e[i, : len(t), 0] = np.stack([t, h], -1)
        return e

    sparse = stax.Aggregate(implementation="SPARSE")
    np.testing.assert_allclose(
        sparse.kernel_fn(x1, x2, "nngp", pattern=(edges(a1), edges(a2))),
        want,
        rtol=CLOSED_FORM_RTOL["float64"],
    )
    np.testing.assert_allclose(
        sparse.apply_fn((), x1, pattern=edges(a1)),
        np.einsum("iac,iaA->iAc", x1, a1),
        rtol=1e-12,
    )


def test_errors():
    x, a = _graphs(2, 4, 5)
    with pytest.raises(LayerError, match="adjacency of shape"):
        stax.Aggregate().kernel_fn(x, None, pattern=a[:, :3, :3])
    with pytest.raises(LayerError, match="only one of x1 and x2"):
        stax.Aggregate().kernel_fn(x, x, pattern=(a, None))
    with pytest.raises(LayerError, match="implementation"):
        stax.Aggregate(implementation="COO")
    assert jax.tree_util.tree_leaves(stax.Aggregate().init_fn(None, x.shape)[1]) == []
