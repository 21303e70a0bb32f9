r"""Gaussian random features of any activation and of its derivative.

For a feature map :math:`f` with :math:`\langle f(x), f(y)\rangle = K(x, y)` and
:math:`w \sim \mathcal N(0, I)`, the pair :math:`(w^\top f(x), w^\top f(y))` is
exactly the centred Gaussian pair of covariance :math:`K` that a dual activation
integrates over. So ``m`` draws give unbiased features of both duals

.. math::
    \tfrac1m \textstyle\sum_j \phi(w_j^\top f(x))\, \phi(w_j^\top f(y))
    \to \mathbb E[\phi(u)\phi(v)], \qquad
    \tfrac1m \textstyle\sum_j \phi'(w_j^\top f(x))\, \phi'(w_j^\top f(y))
    \to \mathbb E[\phi'(u)\phi'(v)],

for any activation, with no series to truncate. For ReLU these are the
arc-cosine random features of order 1 and 0 (Cho & Saul 2009).

References:
  Cho, Saul, `Kernel Methods for Deep Learning
  <https://papers.nips.cc/paper/3628-kernel-methods-for-deep-learning>`_,
  NeurIPS 2009.

  Zandieh, Han, Avron, Shoham, Kim, Shin, `Scaling Neural Tangent Kernels via
  Sketching and Random Features <https://arxiv.org/abs/2106.07880>`_, NeurIPS 2021.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._hermite import elementwise_derivative


def gaussian_init(rng: np.random.Generator, d: int, m: int) -> jax.Array:
    """A ``(d, m)`` standard Gaussian projection, drawn on the host."""
    w = rng.standard_normal((d, m), dtype=np.float32)
    return jnp.asarray(w, jnp.result_type(float))


def random_features(
    fn: Callable[[jax.Array], jax.Array], w: jax.Array, f: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Features of ``E[fn(u) fn(v)]`` and ``E[fn'(u) fn'(v)]`` from ``f`` (last axis)."""
    m = w.shape[-1]
    pre = f @ w.astype(f.dtype)
    scale = 1.0 / math.sqrt(m)
    return fn(pre) * scale, elementwise_derivative(fn, pre) * scale
