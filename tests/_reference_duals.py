"""Reference dual activations in plain NumPy/SciPy float64, sharing no engine code.

* :func:`gauss_expectation`: E[f(u) g(v)] for centred Gaussian (u, v) by a
  tensor Gauss–Hermite rule in Cholesky coordinates at high degree (exact for
  polynomials of degree < 2 * deg, ~1e-12 for the smooth activations tested).
* :func:`rectified_moment`: E[relu(u)^n relu(v)^n] by the polar-coordinate
  integral of Cho & Saul (2009): a closed radial factor times a 1-D angular
  integral done by ``scipy.integrate.quad``.
* :func:`pre_activation_kernel`: a Gaussian :class:`Kernel` with chosen
  covariances and NTK 1, so ``layer.kernel_fn(k).ntk`` is E[phi'(u) phi'(v)].
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from scipy import integrate

from nkwidgets.kernels._kernel import Kernel


def gauss_expectation(f, g, c, q1, q2, deg=160):
    """E[f(u) g(v)], Var u = q1, Var v = q2, Cov = c, elementwise over arrays."""
    c, q1, q2 = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (c, q1, q2)))
    x, w = np.polynomial.hermite.hermgauss(deg)
    z = np.sqrt(2.0) * x  # standard normal nodes
    wz = w / np.sqrt(np.pi)
    out = np.empty(c.shape)
    for idx in np.ndindex(c.shape):
        a = np.sqrt(q1[idx])
        slope = c[idx] / a if a > 0 else 0.0
        rest = np.sqrt(max(q2[idx] - slope**2, 0.0))
        u = a * z[:, None]
        v = slope * z[:, None] + rest * z[None, :]
        out[idx] = np.sum(wz[:, None] * wz[None, :] * f(u) * g(v))
    return out


def rectified_moment(n, c, q1, q2):
    """E[relu(u)^n relu(v)^n] (n = 0: P(u > 0, v > 0)), elementwise.

    With z = r (cos t, sin t), u ~ r cos t and v ~ r cos(t - theta), so the
    expectation is (2^n n! / 2 pi) (q1 q2)^(n/2) times the integral of
    cos^n t cos^n(t - theta) over the arc where both are positive.
    """
    c, q1, q2 = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (c, q1, q2)))
    out = np.empty(c.shape)
    for idx in np.ndindex(c.shape):
        norm = np.sqrt(q1[idx] * q2[idx])
        theta = np.arccos(np.clip(c[idx] / norm, -1.0, 1.0))
        arc, _ = integrate.quad(
            lambda t, theta=theta: np.cos(t) ** n * np.cos(t - theta) ** n,
            theta - np.pi / 2,
            np.pi / 2,
            epsabs=1e-13,
            epsrel=1e-13,
        )
        out[idx] = 2**n * math.factorial(n) / (2 * np.pi) * norm**n * arc
    return out


def covariance_grid():
    """(c, q1, q2): 4x3 pre-activation covariances, correlations ±1 included."""
    q1 = np.array([0.3, 1.0, 2.0, 1.0])
    q2 = np.array([0.5, 1.0, 1.7])
    rho = np.array(
        [
            [1.0, -1.0, 0.0],
            [0.5, 0.99, -0.3],
            [-0.8, 0.2, 0.7],
            [0.0, -0.999, 1.0],
        ]
    )
    c = rho * np.sqrt(np.outer(q1, q2))
    return c, q1, q2


def pre_activation_kernel(c, q1, q2, width=16):
    """A Gaussian Kernel with nngp=c, variances q1/q2 and ntk=1."""
    c = jnp.asarray(c)
    return Kernel(
        nngp=c,
        ntk=jnp.ones_like(c),
        cov1=jnp.asarray(q1),
        cov2=jnp.asarray(q2),
        is_gaussian=True,
        shape1=(c.shape[0], width),
        shape2=(c.shape[1], width),
    )


def unit_inputs(n1=4, n2=3, d=5, seed=0, dtype=np.float32):
    """Rows with zero mean and unit std over features (so |x|^2 / d = 1).

    ``x2[0] = x1[0]`` (correlation 1) and ``x2[1] = -x1[1]`` (correlation -1).
    """
    rs = np.random.RandomState(seed)

    def unit(x):
        x = x - x.mean(1, keepdims=True)
        return x / x.std(1, keepdims=True)

    x1, x2 = unit(rs.randn(n1, d)), unit(rs.randn(n2, d))
    x2[0], x2[1] = x1[0], -x1[1]
    return x1.astype(dtype), x2.astype(dtype)
