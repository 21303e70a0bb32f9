r"""Any nonlinearity's kernel by Gauss–Hermite quadrature, as NT's ``ElementwiseNumerical``.

Writing the centred Gaussian pair with variances :math:`q_1, q_2` and correlation
:math:`\rho` through independent standard normals,
:math:`u = \sqrt{q_1}\,z_1` and
:math:`v = \sqrt{q_2}\,(\rho z_1 + \sqrt{1 - \rho^2}\, z_2)`, turns the dual into
a 2-D integral against :math:`e^{-x^2 - y^2}`, which a tensor-product
Gauss–Hermite rule with ``deg`` nodes per axis integrates exactly for
polynomials of degree below ``2 * deg``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LayerError
from ._elementwise import (
    correlation,
    elementwise_layer,
    missing_derivative_error,
    safe_sqrt,
)
from ._layer import Layer

Activation = Callable[[jax.Array], jax.Array]


def ElementwiseNumerical(
    fn: Activation, deg: int, df: Activation | None = None
) -> Layer:
    r"""A nonlinearity whose dual is integrated numerically.

    .. math::
        K' \approx \frac1\pi \sum_{i, j} w_i w_j\,
            \phi\big(\sqrt{2 q_1}\, x_i\big)\,
            \phi\big(\sqrt{2 q_2}\,(\rho x_i + \sqrt{1 - \rho^2}\, x_j)\big),

    with the nodes :math:`x_i` and weights :math:`w_i` of
    :func:`numpy.polynomial.hermite.hermgauss`; the NTK factor is the same sum
    with :math:`\phi'`. Accuracy depends on the activation and the variance:
    at ``deg=25`` ``Erf`` is within 5e-6 (NNGP) of its closed form at unit
    variance but 1e-3 at variance 2.25 (saturating functions need more nodes
    as the variance grows), and ``Relu``'s kink converges only algebraically
    (2e-2 NNGP, 1e-1 NTK at any variance; see
    ``tests/kernels/test_numerical.py``), so prefer a closed form when one
    exists. Time grows as ``deg**2`` times the kernel size; the sum over
    :math:`i` runs in a loop so memory stays ``deg`` times the kernel.

    Args:
      fn: elementwise activation, written with ``jax.numpy``.
      deg: nodes per axis (>= 1); 25 is a good start for smooth ``fn``.
      df: derivative of ``fn`` for the NTK; default ``jax.grad(fn)``,
        vectorised. If JAX cannot differentiate ``fn``, NTK requests raise a
        LayerError and NNGP requests still work.

    References:
      Abramowitz, Stegun, *Handbook of Mathematical Functions*, 25.4.46
      (Gauss–Hermite integration), 1964.
    """
    name = f"ElementwiseNumerical({getattr(fn, '__name__', 'fn')}, deg={deg})"
    if not callable(fn) or (df is not None and not callable(df)):
        raise LayerError(
            name, "`fn` (and `df` when given) must be functions.", "e.g. fn=jnp.tanh."
        )
    if isinstance(deg, bool) or not isinstance(deg, int | np.integer) or deg < 1:
        raise LayerError(
            name,
            f"`deg={deg!r}` must be a positive integer (quadrature nodes per axis).",
            "e.g. deg=25.",
        )
    nodes, weights = np.polynomial.hermite.hermgauss(int(deg))

    def quadrature(f: Activation, c: jax.Array, q1: jax.Array, q2: jax.Array) -> Any:
        rho, _ = correlation(c, q1, q2)
        shape = jnp.broadcast_shapes(c.shape, q1.shape, q2.shape)
        x = jnp.asarray(nodes, c.dtype)
        w = jnp.asarray(weights, c.dtype)
        inner_x = x.reshape((-1,) + (1,) * len(shape))
        inner_w = w.reshape(inner_x.shape)
        scale1, scale2 = safe_sqrt(2 * q1), safe_sqrt(2 * q2)
        orth = safe_sqrt(1 - rho * rho)

        def row(total: jax.Array, node: tuple[jax.Array, jax.Array]) -> Any:
            xi, wi = node
            v = scale2 * (rho * xi + orth * inner_x)
            inner = jnp.sum(inner_w * f(v), axis=0)
            return total + wi * f(scale1 * xi) * inner, None

        total, _ = jax.lax.scan(row, jnp.zeros(shape, c.dtype), (x, w))
        return total / jnp.pi

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return quadrature(fn, c, q1, q2)

    slope = jnp.vectorize(jax.grad(fn)) if df is None else df

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        try:
            return quadrature(slope, c, q1, q2)
        except (TypeError, ValueError, NotImplementedError) as e:
            if df is not None:
                raise
            reason = f"JAX could not differentiate `fn`: {type(e).__name__}: {e}"
            raise missing_derivative_error(name, reason.splitlines()[0]) from None

    return elementwise_layer(name, fn, dual, dual_derivative)
