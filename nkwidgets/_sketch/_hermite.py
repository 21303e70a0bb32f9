r"""Hermite coefficients of an activation, by kink-aware Gauss quadrature.

With :math:`h_i = He_i / \sqrt{i!}` the orthonormal (probabilists') Hermite
polynomials and :math:`z` standard normal, an activation scaled to variance
:math:`q` expands as :math:`\phi(\sqrt q\, z) = \sum_i a_i(q)\, h_i(z)`,
:math:`a_i(q) = \mathbb E[\phi(\sqrt q z) h_i(z)]`. Mehler's formula turns the
dual activation of a centred Gaussian pair with variances :math:`q_1, q_2` and
correlation :math:`\rho` into a power series

.. math::
    \mathbb E[\phi(u)\phi(v)] = \sum_{i \ge 0} a_i(q_1)\, a_i(q_2)\, \rho^i,

which Han et al. (2022) sketch degree by degree. Truncating after degree
:math:`p` errs by at most :math:`\sqrt{T(q_1) T(q_2)}` for :math:`|\rho| \le 1`
(Cauchy–Schwarz), where :math:`T(q) = \mathbb E[\phi(\sqrt q z)^2] -
\sum_{i \le p} a_i(q)^2` is the tail this module reports. The derivative's
coefficients follow from Stein's identity
:math:`\mathbb E[f'(z) h_i(z)] = \sqrt{i+1}\, \mathbb E[f(z) h_{i+1}(z)]`:
:math:`b_i(q) = \sqrt{(i+1)/q}\; a_{i+1}(q)` for :math:`\phi'(\sqrt q z)`.

Quadrature: the integral is split at 0, where activations kink (ReLU, leaky
ReLU, their step derivatives), and each half-line uses the Gauss rule of the
weight :math:`e^{-z^2/2}` on :math:`[0, \infty)` (the one
``ElementwiseNumerical`` uses radially). ``nodes`` points integrate
:math:`\phi(\sqrt q z)\, h_i(z)` exactly when :math:`\phi` is a polynomial on
each half-line of degree below ``2 nodes - i`` (ReLU: exact for every
:math:`i < 2\,\mathrm{nodes} - 1`), and geometrically fast when it is analytic
on each side (Erf, GELU).

References:
  Han, Zandieh, Lee, Novak, Xiao, Karbasi, `Fast Neural Kernel Embeddings for
  General Activations <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022, §3.

  Daniely, Frostig, Singer, `Toward Deeper Understanding of Neural Networks:
  The Power of Initialization and a Dual View on Expressivity
  <https://arxiv.org/abs/1602.05897>`_, NeurIPS 2016 (dual activations).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._quadrature_rules import half_range_rule
from ..errors import LayerError

Activation = Callable[[jax.Array], jax.Array]

# 64 half-line nodes per side integrate polynomials of degree < 128 exactly:
# ReLU's coefficients to any degree used in practice, and Erf / GELU at unit
# variance to ~1e-15 (checked against their closed forms in the tests).
DEFAULT_NODES = 64


class HermiteExpansion(NamedTuple):
    """Hermite coefficients of :math:`\\phi(\\sqrt q z)` and what they leave out."""

    coefficients: jax.Array  # (*q.shape, degree + 1): a_0(q) .. a_degree(q)
    second_moment: jax.Array  # (*q.shape): E[phi(sqrt(q) z)^2] = sum of all a_i^2

    @property
    def tail(self) -> jax.Array:
        r"""Truncation error :math:`\sum_{i > \mathrm{degree}} a_i(q)^2`, ``(*q.shape)``.

        Bounds the error of the truncated dual at :math:`|\rho| \le 1`: for two
        variances it is :math:`\sqrt{T(q_1)\,T(q_2)}`. Clipped at 0, since
        rounding can leave it a few ulps negative once the series has converged.
        """
        kept = jnp.sum(self.coefficients**2, axis=-1)
        return jnp.maximum(self.second_moment - kept, 0.0)


@functools.lru_cache(maxsize=16)
def _rule(nodes: int, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-line nodes and ``w_k h_i(z_k) / sqrt(2 pi)``, float64, ``(nodes, degree+1)``."""
    z, w = half_range_rule(nodes, 0)
    h = np.zeros((degree + 1, nodes))
    h[0] = 1.0
    if degree >= 1:
        h[1] = z
    # Orthonormal three-term recurrence: stays O(1) where He_i / sqrt(i!) would
    # overflow in the intermediate factorials.
    for i in range(1, degree):
        h[i + 1] = (z * h[i] - math.sqrt(i) * h[i - 1]) / math.sqrt(i + 1)
    weighted = (w / math.sqrt(2.0 * math.pi))[:, None] * h.T
    return z, weighted


def _check(fn: Activation, degree: int, nodes: int) -> None:
    if not callable(fn):
        raise LayerError(
            "hermite_coefficients",
            f"`fn={fn!r}` is not callable.",
            "pass an elementwise jax function such as jax.nn.gelu.",
        )
    for arg, value, low in (("degree", degree, 0), ("nodes", nodes, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LayerError(
                "hermite_coefficients",
                f"`{arg}={value!r}` must be an integer >= {low}.",
                None,
            )
    if degree >= 2 * nodes - 1:
        raise LayerError(
            "hermite_coefficients",
            f"`degree={degree}` needs more than `nodes={nodes}` quadrature nodes.",
            f"use nodes >= {degree // 2 + 1}.",
        )


def hermite_coefficients(
    fn: Activation,
    degree: int,
    variance: ArrayLike = 1.0,
    *,
    nodes: int = DEFAULT_NODES,
) -> HermiteExpansion:
    r"""Hermite coefficients :math:`a_0(q) .. a_p(q)` of :math:`\phi(\sqrt q z)`.

    Args:
      fn: the elementwise activation :math:`\phi` (a jax function).
      degree: truncation degree :math:`p`.
      variance: pre-activation variance(s) :math:`q > 0`, any shape; the
        coefficients get a trailing axis of length ``degree + 1``.
      nodes: Gauss nodes per half-line.

    Returns:
      :class:`HermiteExpansion` with the coefficients, the second moment
      :math:`\mathbb E[\phi(\sqrt q z)^2]` and (``.tail``) the truncation error.

    Examples:
      >>> import jax, numpy as np
      >>> from nkwidgets.sketch import hermite_coefficients
      >>> e = hermite_coefficients(jax.nn.relu, 4)
      >>> print(np.asarray(e.coefficients).round(4))  # 1/sqrt(2 pi), 1/2, ...
      [ 0.3989  0.5     0.2821  0.     -0.0814]
    """
    _check(fn, degree, nodes)
    q = jnp.asarray(variance)
    dtype = q.dtype if jnp.issubdtype(q.dtype, jnp.floating) else jnp.result_type(float)
    q = q.astype(dtype)
    z, weighted = _rule(nodes, degree)
    z = jnp.asarray(z, dtype)
    weighted = jnp.asarray(weighted, dtype)
    w0 = weighted[:, 0]  # weights of the half-line rule / sqrt(2 pi)
    scale = jnp.sqrt(q)[..., None]
    right, left = fn(scale * z), fn(-scale * z)
    parity = jnp.asarray((-1.0) ** np.arange(degree + 1), dtype)
    coefficients = right @ weighted + (left @ weighted) * parity
    second = (right * right + left * left) @ w0
    return HermiteExpansion(coefficients, second)


def derivative_expansion(
    fn: Activation,
    degree: int,
    variance: ArrayLike = 1.0,
    *,
    nodes: int = DEFAULT_NODES,
    expansion: HermiteExpansion | None = None,
) -> HermiteExpansion:
    r"""Hermite coefficients of :math:`\phi'(\sqrt q z)` up to ``degree``.

    :math:`b_i = \sqrt{(i+1)/q}\, a_{i+1}` (Stein's identity) from the
    expansion of :math:`\phi` to ``degree + 1`` (pass it as ``expansion`` to
    reuse one); the second moment :math:`\mathbb E[\phi'(\sqrt q z)^2]` is
    integrated from :math:`\phi'` by forward-mode differentiation.
    """
    q = jnp.asarray(variance)
    if expansion is None:
        expansion = hermite_coefficients(fn, degree + 1, q, nodes=nodes)
    a = expansion.coefficients
    q = q.astype(a.dtype)
    root = jnp.sqrt(jnp.arange(1, degree + 2, dtype=a.dtype))
    b = a[..., 1 : degree + 2] * root / jnp.sqrt(q)[..., None]
    z, weighted = _rule(nodes, 0)
    z = jnp.asarray(z, a.dtype)
    w0 = jnp.asarray(weighted[:, 0], a.dtype)
    scale = jnp.sqrt(q)[..., None]
    right = elementwise_derivative(fn, scale * z)
    left = elementwise_derivative(fn, -scale * z)
    return HermiteExpansion(b, (right * right + left * left) @ w0)


def elementwise_derivative(fn: Activation, x: jax.Array) -> jax.Array:
    """``fn'(x)`` for an elementwise ``fn``: one forward-mode pass, any shape."""
    return jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]


def dual_series(c1: jax.Array, c2: jax.Array, rho: ArrayLike) -> jax.Array:
    r""":math:`\sum_i c_{1,i}\, c_{2,i}\, \rho^i` by Horner's rule (coefficients last)."""
    rho = jnp.asarray(rho)
    prod = c1 * c2
    out = jnp.zeros(jnp.broadcast_shapes(prod.shape[:-1], rho.shape), prod.dtype)
    for i in range(prod.shape[-1] - 1, -1, -1):
        out = out * rho + prod[..., i]
    return out
