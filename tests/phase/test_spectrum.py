"""Tests of ``nkwidgets/_phase/_spectrum.py``: lambda_0 by Lanczos on NTK-vector products."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from nkwidgets import stax
from nkwidgets._phase._spectrum import lanczos_top
from nkwidgets.errors import InputError
from nkwidgets.phase import critical_learning_rates, ntk_top_eigenvalue


def test_lambda0_matches_the_explicit_jacobian_gram(x64, key):
    """lambda_0 = top eigenvalue of J J^T / n, J the Jacobian of all outputs (independent: jacrev + eigvalsh)."""
    init_fn, apply_fn, _ = stax.serial(
        stax.Dense(64, W_std=1.5, b_std=0.1), stax.Relu(), stax.Dense(3)
    )
    x = jax.random.normal(key, (24, 5))
    _, params = init_fn(jax.random.PRNGKey(1), x.shape)
    flat, unravel = ravel_pytree(params)
    jac = jax.jacrev(lambda p: apply_fn(unravel(p), x).reshape(-1))(flat)
    exact = np.linalg.eigvalsh(np.asarray(jac @ jac.T) / x.shape[0])[-1]
    lam, vec = ntk_top_eigenvalue(apply_fn, params, x, iterations=40)
    # 40 Krylov steps on a 72-dimensional operator whose top eigenvalue is
    # well separated: Lanczos converges to rounding (float64).
    assert lam == pytest.approx(exact, rel=1e-10)
    assert vec.shape == (24, 3)
    theta_v = (jac @ (jac.T @ np.asarray(vec).reshape(-1))) / x.shape[0]
    np.testing.assert_allclose(
        theta_v, exact * np.asarray(vec).reshape(-1), atol=1e-7 * exact
    )


def test_lanczos_resolves_a_clustered_top(x64):
    """Ten nearly equal top eigenvalues (a 10-output network's NTK) with the true top 0.3 % above the rest."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(200, 200)))
    spectrum = np.concatenate(
        [np.linspace(0.0, 0.15, 190), 0.30 + 0.0001 * np.arange(9), [0.301]]
    )
    a = jnp.asarray((q * spectrum) @ q.T)
    v0 = rng.normal(size=200)
    lam, _ = lanczos_top(lambda v: a @ v, jnp.asarray(v0), 32)
    # Measured 1.6e-7 after 32 products: the cluster's spread (3e-3) is what
    # is left to resolve, at a rate set by its distance to the bulk (0.15).
    assert float(lam) == pytest.approx(0.301, rel=1e-6)
    # Power iteration with the same 32 products stays inside the cluster.
    v = v0
    for _ in range(32):
        v = np.array(a @ v)
        v = v / np.linalg.norm(v)
    assert 0.301 - v @ np.asarray(a @ v) > 1e-5


def test_critical_rates():
    rates = critical_learning_rates(0.25)
    assert rates == (0.25, 8.0, 16.0, 48.0)
    with pytest.raises(InputError, match="lambda0"):
        critical_learning_rates(0.0)


def test_bad_apply_fn_output_is_named():
    with pytest.raises(InputError, match="examples on axis 0"):
        ntk_top_eigenvalue(
            lambda p, x: {"a": x @ p}, jnp.ones((2, 1)), jnp.ones((3, 2))
        )
