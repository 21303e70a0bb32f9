r"""Any nonlinearity's kernel by kink-aware quadrature: ``ElementwiseNumerical``.

Writing the centred Gaussian pair with variances :math:`q_1, q_2` and correlation
:math:`\rho = \cos\psi` (:math:`\psi \in [0, \pi]`) through independent standard
normals :math:`z = r(\cos\theta, \sin\theta)`,

.. math::
    u = \sqrt{q_1}\, z_1 = \sqrt{q_1}\, r \sin\varphi, \qquad
    v = \sqrt{q_2}\,(\rho z_1 + \sqrt{1 - \rho^2}\, z_2)
      = \sqrt{q_2}\, r \sin(\varphi - \psi),
    \qquad \varphi = \theta + \tfrac\pi2,

turns the dual into

.. math::
    \mathbb E[g(u, v)] = \frac1{2\pi} \int_0^\pi d\varphi \int_0^\infty
        \big(g(u, v) + g(-u, -v)\big)\, r e^{-r^2/2}\, dr.

Activations usually kink at 0 (Relu, LeakyRelu, Abs, and the step functions
their derivatives are): along the lines :math:`u = 0` (:math:`\varphi = 0,
\pi`) and :math:`v = 0` (:math:`\varphi = \psi`) through the origin. A
tensor-product Gauss–Hermite rule, as Neural Tangents uses, sees a kink and
converges only algebraically (Relu at ``deg=25``: 2e-2 NNGP, 1e-1 NTK). Here
the angle range is split at :math:`\psi` into the sectors
:math:`[0, \psi]` (:math:`u \ge 0 \ge v`) and :math:`[\psi, \pi]`
(:math:`u, v \ge 0`); the :math:`g(-u, -v)` term covers the opposite two
sectors. Inside a sector the signs of :math:`u` and :math:`v` are fixed, so a
function smooth away from 0 is smooth there: Gauss–Legendre in
:math:`\varphi` per sector, and radially the Gauss rule for the weight
:math:`r e^{-r^2/2}` on :math:`[0, \infty)`
(:func:`nkwidgets._quadrature_rules.half_range_rule`), both
converge geometrically for functions analytic on either side of 0; for a
positively homogeneous function (Relu) the radial integrand is a polynomial
and the rule is exact.

Where :math:`|\rho| = 1` (the diagonal terms ``cov1``/``cov2`` and duplicated
inputs) the pair is degenerate and the integral is 1-D: the Gauss rule for
:math:`e^{-z^2/2}` on :math:`[0, \infty)` applied to :math:`g(z) + g(-z)`,
which is split at the kink too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._quadrature_rules import half_range_rule
from ..errors import LayerError
from ._elementwise import (
    correlation,
    elementwise_layer,
    missing_derivative_error,
    safe_sqrt,
)
from ._layer import Layer

Activation = Callable[[jax.Array], jax.Array]

# |rho| >= 1 - _DEGENERATE_ULPS * eps counts as a degenerate (1-D) pair. The
# correlation of an input with itself is q / (sqrt(q) sqrt(q)), which rounds to
# within a few ulps of 1; treating a true 1 - delta as 1 costs O(delta) for
# smooth functions and sqrt(2 delta) / (2 pi) for a step derivative (Relu's
# NTK), which at 16 ulps is 3e-4 in float32 and 1e-8 in float64: the order by
# which a few ulps of rounding in rho already move the closed forms there.
# Measured: the diagonal correlations Dense produces stay within 6 ulps of 1.
_DEGENERATE_ULPS = 16


def ElementwiseNumerical(
    fn: Activation, deg: int, df: Activation | None = None
) -> Layer:
    r"""A nonlinearity whose dual is integrated numerically.

    With :math:`m = \lceil \mathrm{deg} / 2 \rceil`, radial nodes and weights
    :math:`(r_j, w_j)` of the :math:`m`-node Gauss rule for :math:`r e^{-r^2/2}`
    on :math:`[0, \infty)`, and Gauss–Legendre nodes :math:`a_i \in (0, 1)`
    with weights :math:`\omega_i` (summing to 1),

    .. math::
        K' \approx \frac1{2\pi} \sum_{i, j} \omega_i w_j \Big[
            \psi\, G\big(r_j \sin(\psi a_i),\, -r_j \sin(\psi (1 - a_i))\big)
          + (\pi - \psi)\, G\big(r_j \sin((\pi - \psi)(1 - a_i)),\,
                                 r_j \sin((\pi - \psi) a_i)\big)\Big],

    :math:`G(s, t) = \phi(\sqrt{q_1}\, s)\,\phi(\sqrt{q_2}\, t) +
    \phi(-\sqrt{q_1}\, s)\,\phi(-\sqrt{q_2}\, t)` and :math:`\psi = \arccos\rho`:
    polar coordinates in the whitened plane, the angle split into the four
    sectors that the lines :math:`u = 0` and :math:`v = 0` bound (see the module
    docstring). At :math:`|\rho| = 1` the 1-D Gauss rule with ``deg`` nodes for
    :math:`e^{-z^2/2}` on :math:`[0, \infty)` is used instead. The NTK factor is
    the same sum with :math:`\phi'`.

    Accuracy at ``deg=25`` (float64, max error / max entry; see
    ``tests/kernels/test_numerical.py``): ``Erf`` 3e-9 (NNGP) and 6e-8 (NTK)
    at unit variance, 2e-7 and 4e-6 at variance 2.25, 2e-5 and 3e-4 at
    variance 9 (saturating functions need more nodes as the variance grows:
    ``deg=50`` gives 8e-9 and 8e-7 there); ``Relu``, ``LeakyRelu``, ``Abs``
    to rounding, 1e-15, where Gauss–Hermite reaches only 2e-2 and 1e-1.
    Against Neural Tangents' tensor Gauss–Hermite rule at the same ``deg``,
    whose values this layer therefore no longer reproduces: for tanh, erf,
    sigmoid, swish, gelu and softplus at variance >= 2.25 10 to 10^4 times
    more accurate (tanh at variance 5: 4e-7 / 4e-5 against 1.5e-2 / 1.7e-1);
    at variance <= 1, where these functions are nearly polynomial,
    Gauss–Hermite is sometimes better (gelu at variance 0.3: 4e-14 against
    2e-9 here), but there both rules are at 3e-8 or better. Gauss–Hermite
    stays better for entire functions of moderate growth, which have exact
    closed forms (``Monomial``, ``Polynomial``: 6e-11 here, exact there;
    ``Exp``, ``Sin``, ``Cos``: 1e-9 here at variance 1, 1e-4 at variance 9).

    Cost: :math:`8 m^2 \approx 2\,\mathrm{deg}^2` evaluations of
    :math:`\phi` per kernel entry (4 per node: both sectors and their
    mirror images), plus :math:`4\,\mathrm{deg}` for the 1-D rule, against
    :math:`\mathrm{deg}^2` for Gauss–Hermite; measured, 2 to 3 times its
    time. The sums over nodes run in loops, so memory stays :math:`m` times
    the kernel.

    Args:
      fn: elementwise activation, written with ``jax.numpy``.
      deg: quadrature order (>= 1); 25 is a good start.
      df: derivative of ``fn`` for the NTK; default ``jax.grad(fn)``,
        vectorised. If JAX cannot differentiate ``fn``, NTK requests raise a
        LayerError and NNGP requests still work.

    References:
      Golub, Welsch, *Calculation of Gauss quadrature rules*, Math. Comp. 23,
      1969; Gautschi, *Orthogonal Polynomials: Computation and
      Approximation*, 2004, §2.2 (discretised Stieltjes/Lanczos).
    """
    name = f"ElementwiseNumerical({getattr(fn, '__name__', 'fn')}, deg={deg})"
    if not callable(fn) or (df is not None and not callable(df)):
        raise LayerError(
            name, "`fn` (and `df` when given) must be functions.", "e.g. fn=jnp.tanh."
        )
    if isinstance(deg, bool) or not isinstance(deg, int | np.integer) or deg < 1:
        raise LayerError(
            name,
            f"`deg={deg!r}` must be a positive integer (quadrature order).",
            "e.g. deg=25.",
        )
    deg = int(deg)
    # m radial x m angular nodes per sector: 8 m^2 ~ 2 deg^2 evaluations, about
    # twice Gauss–Hermite's deg^2. The split is even because neither direction
    # dominates the error: the angle resolves phi(sqrt(q) r sin(phi)) near the
    # sector ends, the radius the growth of phi along a ray.
    m = math.ceil(deg / 2)
    radial_nodes, radial_weights = half_range_rule(m, 1)
    t, t_weights = np.polynomial.legendre.leggauss(m)
    # Gauss–Legendre on [0, 1]: the node a and its mirror 1 - a, so that
    # sin(width * a) is computed without cancellation at both sector ends.
    angle_a, angle_b, angle_w = (1.0 + t) / 2, (1.0 - t) / 2, t_weights / 2
    line_nodes, line_weights = half_range_rule(deg, 0)
    line_weights = line_weights / math.sqrt(2 * math.pi)

    def quadrature(f: Activation, c: jax.Array, q1: jax.Array, q2: jax.Array) -> Any:
        dtype = c.dtype
        rho, _ = correlation(c, q1, q2)
        shape = jnp.broadcast_shapes(c.shape, q1.shape, q2.shape)
        rho = jnp.broadcast_to(rho, shape)
        s1 = jnp.broadcast_to(safe_sqrt(q1), shape)
        s2 = jnp.broadcast_to(safe_sqrt(q2), shape)
        axis = (-1,) + (1,) * len(shape)  # a node axis in front of the kernel's
        r = jnp.asarray(radial_nodes, dtype).reshape(axis)
        wr = jnp.asarray(radial_weights, dtype).reshape(axis)

        # psi = arccos(rho) by atan2, well conditioned at rho = +-1; safe_sqrt
        # keeps its gradient finite there. Sector [0, psi] (u >= 0 >= v) and
        # sector [psi, pi] (u, v >= 0); at rho = +-1 one has width 0 and its
        # nodes carry zero weight.
        psi = jnp.arctan2(safe_sqrt(1.0 - rho * rho), rho)
        eta = jnp.pi - psi

        def ray(su: jax.Array, sv: jax.Array) -> jax.Array:
            # Radial rule along the ray with direction (su, sv) and its mirror.
            ru, rv = r * (s1 * su), r * (s2 * sv)
            return jnp.sum(wr * (f(ru) * f(rv) + f(-ru) * f(-rv)), axis=0)

        def node(total: jax.Array, xs: tuple[jax.Array, ...]) -> Any:
            a, b, w = xs
            total = total + (psi * w) * ray(jnp.sin(psi * a), -jnp.sin(psi * b))
            total = total + (eta * w) * ray(jnp.sin(eta * b), jnp.sin(eta * a))
            return total, None

        # Loop over the angular nodes, vectorised over the radial ones: memory
        # is m kernels (Gauss–Hermite's loop held deg).
        xs = tuple(jnp.asarray(v, dtype) for v in (angle_a, angle_b, angle_w))
        total, _ = jax.lax.scan(node, jnp.zeros(shape, dtype), xs)
        plane = total / (2 * jnp.pi)

        # |rho| = 1: v = rho sqrt(q2 / q1) u exactly, a 1-D integral. The same
        # rule then gives the diagonal (cov1) and the nngp of duplicated
        # inputs, so K(x, x) stays consistent with cov1 (a mismatch delta
        # would become a correlation 1 - delta downstream, which arc-cosine
        # layers amplify to sqrt(delta)). Keeping rho (not its sign) in v makes
        # the gradient with respect to c at rho = +-1 the one Gauss–Hermite had.
        def line_node(total: jax.Array, xs: tuple[jax.Array, jax.Array]) -> Any:
            z, w = xs
            zu, zv = z * s1, z * (rho * s2)
            return total + w * (f(zu) * f(zv) + f(-zu) * f(-zv)), None

        # A loop again, so that even outside jit no deg-times-kernel array forms.
        xs = tuple(jnp.asarray(v, dtype) for v in (line_nodes, line_weights))
        line, _ = jax.lax.scan(line_node, jnp.zeros(shape, dtype), xs)
        degenerate = jnp.abs(rho) >= 1 - _DEGENERATE_ULPS * jnp.finfo(dtype).eps
        return jnp.where(degenerate, line, plane)

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
