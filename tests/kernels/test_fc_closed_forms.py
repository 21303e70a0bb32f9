"""Fully connected ReLU / Erf kernels against independent closed forms and Monte Carlo.

Tests nkwidgets/kernels/_dense.py and the arc-cosine / arcsine duals in
nkwidgets/kernels/_elementwise.py. The reference recursion below is written
from the papers (Cho & Saul 2009 arc-cosine kernel; Williams 1997 arcsine
kernel; Jacot et al. 2018 NTK recursion) in plain NumPy float64, sharing no code
with the engine.
"""

from __future__ import annotations

import numpy as np
import pytest

from nkwidgets import stax

from .._monte_carlo import assert_mc_close, monte_carlo_kernels
from .._tolerances import CLOSED_FORM_RTOL


def _inputs(n1=6, n2=4, d=5, seed=0):
    rs = np.random.RandomState(seed)
    x1 = rs.randn(n1, d)
    x2 = rs.randn(n2, d)
    x2[0] = x1[0]  # correlation exactly 1: the arccos boundary
    x2[1] = -x1[1]  # correlation exactly -1
    return x1, x2


def _arccos1(c, q1, q2):
    """E[relu(u) relu(v)] and E[relu'(u) relu'(v)] (Cho & Saul order 1 and 0)."""
    rho = np.clip(
        c / np.sqrt(np.outer(q1, q2)) if c.ndim == 2 else c / np.sqrt(q1 * q2), -1, 1
    )
    theta = np.arccos(rho)
    norm = np.sqrt(np.outer(q1, q2)) if c.ndim == 2 else np.sqrt(q1 * q2)
    k = norm / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    kdot = (np.pi - theta) / (2 * np.pi)
    return k, kdot


def _arcsine(c, q1, q2):
    """E[erf(u) erf(v)] and E[erf'(u) erf'(v)] (Williams 1997)."""
    a = 1 + 2 * (np.outer(q1, q2) if c.ndim == 2 else q1 * q2) * 0  # shape helper
    d1 = 1 + 2 * q1
    d2 = 1 + 2 * q2
    denom = np.outer(d1, d2) if c.ndim == 2 else d1 * d2
    k = 2 / np.pi * np.arcsin(2 * c / np.sqrt(denom)) + 0 * a
    kdot = 4 / np.pi / np.sqrt(denom - 4 * c**2)
    return k, kdot


def _reference_fc(x1, x2, depth, W_std, b_std, dual):
    """NNGP/NTK recursion of serial([Dense, act] * depth, Dense)."""
    d = x1.shape[1]
    c = x1 @ x2.T / d
    q1 = np.sum(x1**2, 1) / d
    q2 = np.sum(x2**2, 1) / d
    theta = np.zeros_like(c)
    for _ in range(depth):
        c = W_std**2 * c + b_std**2
        q1 = W_std**2 * q1 + b_std**2
        q2 = W_std**2 * q2 + b_std**2
        theta = c + W_std**2 * theta
        k, kdot = dual(c, q1, q2)
        theta = theta * kdot
        c = k
        q1 = dual(q1, q1, q1)[0]
        q2 = dual(q2, q2, q2)[0]
    c = W_std**2 * c + b_std**2
    theta = c + W_std**2 * theta
    return c, theta


def _net(depth, act, W_std, b_std, width=512, out=1):
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(width, W_std=W_std, b_std=b_std), act()]
    layers.append(stax.Dense(out, W_std=W_std, b_std=b_std))
    return stax.serial(*layers)


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize(
    "act,dual", [(stax.Relu, _arccos1), (stax.Erf, _arcsine)], ids=["relu", "erf"]
)
def test_closed_form_float64(x64, depth, act, dual):
    x1, x2 = _inputs()
    _, _, kernel_fn = _net(depth, act, W_std=1.5, b_std=0.05)
    got = kernel_fn(x1, x2, ("nngp", "ntk"))
    nngp, ntk = _reference_fc(x1, x2, depth, 1.5, 0.05, dual)
    rtol = CLOSED_FORM_RTOL["float64"]
    assert got.nngp.dtype == np.float64
    np.testing.assert_allclose(got.nngp, nngp, rtol=rtol)
    np.testing.assert_allclose(got.ntk, ntk, rtol=rtol)


@pytest.mark.parametrize(
    "act,dual", [(stax.Relu, _arccos1), (stax.Erf, _arcsine)], ids=["relu", "erf"]
)
def test_closed_form_float32_default(act, dual):
    """Without x64 the engine computes in float32 (the stated default)."""
    x1, x2 = _inputs()
    _, _, kernel_fn = _net(2, act, W_std=1.5, b_std=0.05)
    got = kernel_fn(x1.astype(np.float32), x2.astype(np.float32), ("nngp", "ntk"))
    assert got.nngp.dtype == np.float32
    nngp, ntk = _reference_fc(x1, x2, 2, 1.5, 0.05, dual)
    rtol = CLOSED_FORM_RTOL["float32"]
    scale = np.abs(nngp).max()
    np.testing.assert_allclose(got.nngp, nngp, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(got.ntk, ntk, rtol=rtol, atol=rtol * np.abs(ntk).max())


def test_x2_none_is_symmetric_self_kernel(x64):
    x1, _ = _inputs()
    _, _, kernel_fn = _net(2, stax.Relu, 1.5, 0.05)
    k = kernel_fn(x1, None, ("nngp", "ntk"))
    k12 = kernel_fn(x1, x1, ("nngp", "ntk"))
    np.testing.assert_allclose(k.nngp, k12.nngp, rtol=1e-12)
    np.testing.assert_allclose(k.ntk, k.ntk.T, rtol=1e-12)
    full = kernel_fn(x1, None)
    np.testing.assert_allclose(np.diag(full.nngp), full.cov1, rtol=1e-12)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("act", [stax.Relu, stax.Erf], ids=["relu", "erf"])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_monte_carlo_width_1024(key, act, parameterization, depth):
    """200 random width-1024 networks: empirical NNGP/NTK vs the analytic kernel.

    Tolerance: 5 standard errors of the 200-network mean plus 2 % of the kernel
    scale for the O(1/width) finite-width bias (see tests/_tolerances.py). The
    depth-2 case has a 1024x1024 weight matrix, whose Jacobians dominate the
    cost, so it uses one output channel.
    """
    x1, x2 = _inputs(n1=4, n2=3, d=5)
    x1, x2 = x1.astype(np.float32), x2.astype(np.float32)
    layers = []
    for _ in range(depth):
        layers += [
            stax.Dense(1024, W_std=1.5, b_std=0.05, parameterization=parameterization),
            act(),
        ]
    n_out = 4 if depth == 1 else 1
    layers.append(
        stax.Dense(n_out, W_std=1.5, b_std=0.05, parameterization=parameterization)
    )
    net = stax.serial(*layers)
    analytic = net.kernel_fn(x1, x2, ("nngp", "ntk"))
    mc = monte_carlo_kernels(net, x1, x2, (-1, 5), n_samples=200, key=key, batch=25)
    assert_mc_close(mc["nngp"], analytic.nngp, f"{parameterization} nngp")
    assert_mc_close(mc["ntk"], analytic.ntk, f"{parameterization} ntk")
