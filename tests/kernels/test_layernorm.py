"""LayerNorm: Monte Carlo of finite networks, scale invariance, an independent formula."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import LayerError

from .._monte_carlo import check_against_monte_carlo, one_hidden_layer
from .._tolerances import CLOSED_FORM_RTOL


def test_monte_carlo_fc(key):
    """Dense(512) -> LayerNorm -> Relu -> Dense(64), 200 networks.

    Tolerance from tests/_monte_carlo.py: 5 standard errors + 2 % of the scale;
    the finite layer's channel statistics differ from the limit by O(1/512),
    well inside the 2 %.
    """
    x1 = jax.random.normal(jax.random.PRNGKey(5), (4, 6)) * np.arange(1, 7)
    x2 = jax.random.normal(jax.random.PRNGKey(6), (3, 6))
    net = one_hidden_layer(
        stax.serial(stax.LayerNorm(), stax.Relu()), "ntk", 1.5, 0.4, width=512
    )
    check_against_monte_carlo(net, x1, x2, key)


def test_scale_invariance(x64):
    """Without a bias before it, LayerNorm forgets the scale of the inputs,
    in the kernel and in finite networks (up to eps = 1e-12 in the variance)."""
    x = np.random.RandomState(0).standard_normal((5, 4, 3))
    net = stax.serial(
        stax.Dense(8, W_std=1.3),
        stax.LayerNorm(axis=(1, 2)),
        stax.Relu(),
        stax.GlobalAvgPool(),
        stax.Dense(1),
    )
    a = net.kernel_fn(x, None, ("nngp", "ntk"))
    b = net.kernel_fn(37.0 * x, None, ("nngp", "ntk"))
    # Relu's NTK reads arccos of a correlation of 1 on the diagonal, where a
    # rounding error eps becomes sqrt(eps) ~ 1e-8: the closed-form tolerance.
    np.testing.assert_allclose(b.nngp, a.nngp, rtol=CLOSED_FORM_RTOL["float64"])
    np.testing.assert_allclose(b.ntk, a.ntk, rtol=CLOSED_FORM_RTOL["float64"])
    _, params = net.init_fn(jax.random.PRNGKey(0), x.shape)
    np.testing.assert_allclose(
        net.apply_fn(params, 37.0 * x), net.apply_fn(params, x), rtol=1e-8
    )


def test_over_positions_by_hand(x64):
    """Normalising over (positions, channels) divides by the position-mean variance."""
    x1 = np.random.RandomState(1).standard_normal((2, 4, 3))
    x2 = np.random.RandomState(2).standard_normal((3, 4, 3))
    net = stax.serial(
        stax.Dense(8, W_std=1.2, b_std=0.5),
        stax.LayerNorm(axis=(1, 2)),
        stax.GlobalAvgPool(),
    )
    k = net.kernel_fn(x1, x2, "nngp")
    k12 = 1.44 * np.einsum("iac,jbc->ijab", x1, x2) / 3 + 0.25
    q1 = (1.44 * np.einsum("iac,iac->ia", x1, x1) / 3 + 0.25).mean(1)
    q2 = (1.44 * np.einsum("iac,iac->ia", x2, x2) / 3 + 0.25).mean(1)
    want = k12.mean((2, 3)) / np.sqrt(np.outer(q1, q2))
    np.testing.assert_allclose(k, want, rtol=CLOSED_FORM_RTOL["float64"])


def test_errors():
    x = np.ones((2, 4, 3))
    with pytest.raises(LayerError, match="channel axis"):
        stax.serial(stax.Dense(4), stax.LayerNorm(axis=1)).kernel_fn(x, None)
    with pytest.raises(LayerError, match="not Gaussian"):
        stax.serial(stax.Dense(4), stax.Relu(), stax.LayerNorm()).kernel_fn(x, None)
