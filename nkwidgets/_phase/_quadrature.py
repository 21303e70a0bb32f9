r"""Gaussian expectations for the mean-field recursions, split at the kink lines.

One variable: :math:`\mathbb E[g(z)] = \sum_j \hat w_j\,(g(z_j) + g(-z_j))`
with the Gauss rule for :math:`e^{-z^2/2}` on :math:`[0,\infty)` (weights
normalised to sum to 1/2). Splitting at 0 makes it exact for ReLU-like
functions (polynomial on each side), where a plain Gauss–Hermite rule with a
node at or near 0 is not.

Two variables with equal variance ``q`` and correlation :math:`c =
\cos\psi`: polar coordinates in the whitened plane, :math:`u = \sqrt q\,r\sin
\varphi`, :math:`v = \sqrt q\,r\sin(\varphi - \psi)`,

.. math::
    \mathbb E[g(u, v)] = \frac1{2\pi}\int_0^\pi d\varphi\int_0^\infty
      \big(g(u,v) + g(-u,-v)\big)\, r e^{-r^2/2}\,dr,

with the angle split at :math:`\psi` (where :math:`v` changes sign) and
Gauss–Legendre on each piece, the radial rule for :math:`r e^{-r^2/2}`. The
same construction as ``nkwidgets.kernels._numerical`` (both take their
half-line rules from ``nkwidgets._quadrature_rules``), here for scalars so
that it vectorises over a whole :math:`(\sigma_w^2, \sigma_b^2)` grid.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._quadrature_rules import half_range_rule


@dataclasses.dataclass(frozen=True)
class Rule:
    """Nodes and weights (float64 numpy, cast on use)."""

    line_nodes: np.ndarray  # (n1,) z > 0
    line_weights: np.ndarray  # (n1,) summing to 1/2
    radial_nodes: np.ndarray  # (m,)
    radial_weights: np.ndarray  # (m,) summing to 1
    angle_nodes: np.ndarray  # (a,) in (0, 1)
    angle_weights: np.ndarray  # (a,) summing to 1


@functools.lru_cache(maxsize=16)
def rule(line: int, radial: int, angle: int) -> Rule:
    """The quadrature rule with ``line`` 1-D nodes, ``radial`` x ``angle`` per 2-D sector."""
    z, wz = half_range_rule(line, 0)
    r, wr = half_range_rule(radial, 1)
    t, wt = np.polynomial.legendre.leggauss(angle)
    return Rule(
        z,
        0.5 * wz / wz.sum(),
        r,
        wr / wr.sum(),
        0.5 * (t + 1.0),
        0.5 * wt,
    )


def expect_1d(g: Callable[[jax.Array], jax.Array], rule_: Rule, dtype) -> jax.Array:
    """:math:`\\mathbb E[g(z)]`, :math:`z \\sim \\mathcal N(0, 1)`."""
    z = jnp.asarray(rule_.line_nodes, dtype)
    w = jnp.asarray(rule_.line_weights, dtype)
    return jnp.sum(w * (g(z) + g(-z)))


def expect_pair(
    g: Callable[[jax.Array, jax.Array], jax.Array],
    q: jax.Array,
    c: jax.Array,
    rule_: Rule,
) -> jax.Array:
    """:math:`\\mathbb E[g(u, v)]` for centred Gaussians, variances ``q``, correlation ``c``.

    ``g`` may return a tuple of arrays (several expectations sharing nodes).
    """
    dtype = jnp.result_type(q, c)
    psi = jnp.arccos(jnp.clip(c, -1.0, 1.0))
    r = jnp.asarray(rule_.radial_nodes, dtype)[None, :]
    wr = jnp.asarray(rule_.radial_weights, dtype)[None, :]
    t = jnp.asarray(rule_.angle_nodes, dtype)[:, None]
    wt = jnp.asarray(rule_.angle_weights, dtype)[:, None]
    scale = jnp.sqrt(q)
    total = None
    for start, length in ((0.0, psi), (psi, jnp.pi - psi)):
        phi = start + length * t
        u = scale * r * jnp.sin(phi)
        v = scale * r * jnp.sin(phi - psi)
        plus, minus = g(u, v), g(-u, -v)
        weight = wt * wr * length / (2.0 * jnp.pi)
        part = jax.tree_util.tree_map(
            lambda a, b, weight=weight: jnp.sum(weight * (a + b)), plus, minus
        )
        total = part if total is None else jax.tree_util.tree_map(jnp.add, total, part)
    return total
