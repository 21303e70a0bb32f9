r"""Polynomial nonlinearities: monomials, polynomials, Hermite and rectified monomials.

Their dual activations are exact polynomials in the covariance :math:`c` and the
variances :math:`q_1, q_2` (Isserlis' theorem), or, for the rectified monomials,
arc-cosine kernels of higher order (Cho & Saul 2009). Coefficients are worked out
once, in Python integers, when the layer is built.
"""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.polynomial import Polynomial as NpPolynomial
from numpy.polynomial import hermite_e

from ..errors import LayerError
from ._elementwise import correlation, elementwise_layer, safe_arccos, safe_sqrt
from ._kernel import Kernel
from ._layer import Layer

# (coefficient, power of c, power of q1, power of q2)
Term = tuple[float, int, int, int]


def _check_degree(name: str, degree: object) -> int:
    if (
        isinstance(degree, bool)
        or not isinstance(degree, int | np.integer)
        or int(degree) < 0
    ):
        raise LayerError(
            name,
            f"`degree={degree!r}` must be a non-negative integer.",
            f"e.g. {name}(2).",
        )
    return int(degree)


def gaussian_moment_terms(coef: Sequence[float]) -> list[Term]:
    r"""Terms of :math:`\mathbb E[p(u)p(v)]` for :math:`p(x) = \sum_i a_i x^i`.

    By Isserlis' theorem :math:`\mathbb E[u^i v^j]` sums over pairings with
    :math:`l` cross pairs :math:`(u, v)` and the rest within :math:`u` or within
    :math:`v`:

    .. math::
        \mathbb E[u^i v^j] = \sum_{l} \frac{i!\, j!}{l!\; 2^\alpha \alpha!\;
        2^\beta \beta!}\, c^l q_1^\alpha q_2^\beta,
        \quad \alpha = \tfrac{i - l}2,\ \beta = \tfrac{j - l}2 \in \mathbb N.
    """
    terms: dict[tuple[int, int, int], float] = collections.defaultdict(float)
    for i, a_i in enumerate(coef):
        for j, a_j in enumerate(coef):
            if a_i == 0 or a_j == 0 or (i + j) % 2:
                continue
            for cross in range(i % 2, min(i, j) + 1, 2):
                alpha, beta = (i - cross) // 2, (j - cross) // 2
                pairings = (math.factorial(i) * math.factorial(j)) // (
                    math.factorial(cross)
                    * 2**alpha
                    * math.factorial(alpha)
                    * 2**beta
                    * math.factorial(beta)
                )
                terms[(cross, alpha, beta)] += float(a_i) * float(a_j) * pairings
    return [(v, *powers) for powers, v in terms.items() if v != 0]


def _differentiate(terms: list[Term]) -> list[Term]:
    """d/dc of a moment polynomial: Price's theorem turns it into E[p'(u) p'(v)]."""
    return [(v * ell, ell - 1, a, b) for v, ell, a, b in terms if ell > 0]


def _evaluate(
    terms: list[Term], c: jax.Array, q1: jax.Array, q2: jax.Array
) -> jax.Array:
    out = jnp.zeros(jnp.broadcast_shapes(c.shape, q1.shape, q2.shape), c.dtype)
    for v, ell, a, b in terms:
        out = out + v * c**ell * q1**a * q2**b
    return out


def _horner(coefficients: Sequence[float], x: jax.Array) -> jax.Array:
    """sum_i coefficients[i] * x**i, lowest degree first."""
    out = jnp.zeros_like(x)
    for v in reversed(coefficients):
        out = out * x + v
    return out


def _polynomial_layer(name: str, coef: Sequence[float]) -> Layer:
    terms = gaussian_moment_terms(coef)
    slope_terms = _differentiate(terms)
    coefficients = [float(v) for v in coef]

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return _evaluate(terms, c, q1, q2)

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return _evaluate(slope_terms, c, q1, q2)

    def fn(x: jax.Array) -> jax.Array:
        return _horner(coefficients, x)

    return elementwise_layer(name, fn, dual, dual_derivative)


def Polynomial(coef: Sequence[float]) -> Layer:
    r"""The polynomial :math:`\phi(x) = \sum_i a_i x^i`, ``coef = [a_0, a_1, ...]``.

    The dual is exact for any variances (:func:`gaussian_moment_terms`):

    .. math::
        K' = \sum_{i, j} a_i a_j\, \mathbb E[u^i v^j],
        \qquad
        \mathbb E[\phi'\phi'] = \partial_c K' .

    Args:
      coef: coefficients in increasing degree, as
        :class:`numpy.polynomial.polynomial.Polynomial`.

    References:
      Isserlis, `On a formula for the product-moment coefficient of any order of
      a normal frequency distribution in any number of variables
      <https://doi.org/10.1093/biomet/12.1-2.134>`_, Biometrika, 1918.
    """
    try:
        values = np.asarray(coef, dtype=float)
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise LayerError(
            "Polynomial",
            f"`coef={coef!r:.60}` must be a flat sequence of finite numbers.",
            "e.g. Polynomial([0.1, 0.5, 0.3]) for 0.1 + 0.5 x + 0.3 x^2.",
        )
    return _polynomial_layer("Polynomial", values.tolist())


def Monomial(degree: int) -> Layer:
    r"""The monomial :math:`\phi(x) = x^n`: :func:`Polynomial` with one term.

    .. math::
        K' = \sum_{l \equiv n\ (2)} \frac{(n!)^2}{l!\, 4^{(n - l)/2}
             ((\tfrac{n - l}2)!)^2}\, c^l (q_1 q_2)^{(n - l)/2},
        \qquad
        \mathbb E[\phi'\phi'] = n^2\, \mathbb E[u^{n-1} v^{n-1}],

    e.g. :math:`2c^2 + q_1 q_2` for :math:`n = 2`. Neural Tangents accepts
    degrees 0 to 5; any non-negative degree works here.
    """
    n = _check_degree("Monomial", degree)
    return _polynomial_layer(f"Monomial({n})", [0.0] * n + [1.0])


def Hermite(degree: int) -> Layer:
    r"""The normalised probabilists' Hermite polynomial :math:`He_n(x)/\sqrt{n!}`.

    For unit-variance pre-activations Mehler's formula gives :math:`K' = \rho^n`.
    As in Neural Tangents, the layer assumes unit variances and returns

    .. math::
        K' = c^n, \qquad \Theta' = \Theta \cdot n\, c^{n-1},

    which equal the true duals only when :math:`q_1 = q_2 = 1` (e.g. inputs with
    unit standard deviation across features through ``Dense(W_std=1)`` without
    bias). Other variances raise a warning when they can be seen (outside
    ``jit``); :func:`Polynomial` with the Hermite coefficients gives the exact
    dual at any variance.

    References:
      Mehler, `Ueber die Entwicklung einer Function von beliebig vielen
      Variablen nach Laplaceschen Functionen höherer Ordnung
      <https://doi.org/10.1515/crll.1866.66.161>`_, J. reine angew. Math., 1866.
    """
    n = _check_degree("Hermite", degree)
    name = f"Hermite({n})"
    normalised = hermite_e.herme2poly([0.0] * n + [1.0]) / math.sqrt(math.factorial(n))
    coefficients = normalised.tolist()

    def fn(x: jax.Array) -> jax.Array:
        return _horner(coefficients, x)

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        del q1, q2
        return c**n

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        del q1, q2
        return n * c ** (n - 1) if n > 0 else jnp.zeros_like(c)

    def warn_unless_unit_variance(k: Kernel) -> None:
        for cov in (k.cov1, k.cov2):
            if cov is None or isinstance(cov, jax.core.Tracer):
                continue
            values = np.asarray(cov)
            if not np.allclose(values, 1.0, rtol=1e-4, atol=0.0):
                warnings.warn(
                    f"{name} assumes unit-variance pre-activations (Neural Tangents' "
                    f"convention K' = c**{n}), but the variances range over "
                    f"[{values.min():.4g}, {values.max():.4g}], so the kernel is not "
                    "the dual of the finite network. Fix: standardise each input "
                    "across features and use Dense(W_std=1.0) without bias before "
                    "it, or use Polynomial(coef) for the exact dual.",
                    UserWarning,
                    stacklevel=2,
                )
                return

    return elementwise_layer(
        name, fn, dual, dual_derivative, check_kernel=warn_unless_unit_variance
    )


def _arc_cosine_polynomials(order: int) -> list[tuple[NpPolynomial, NpPolynomial]]:
    r"""``(A_m, B_m)`` for m = 0..order, with the arc-cosine angular function

    :math:`J_m(\theta) = (-1)^m[(\pi - \theta) A_m(\cos\theta) + \sin\theta\,
    B_m(\cos\theta)]`. Cho & Saul define
    :math:`J_m = (-1)^m \sin^{2m+1}\theta\,(\frac1{\sin\theta}\partial_\theta)^m
    \frac{\pi - \theta}{\sin\theta}`; applying the operator to
    :math:`(\pi-\theta)A/\sin^{2m+1} + B/\sin^{2m}` gives the recursion below,
    exact at :math:`\theta = 0, \pi` where the defining form is 0/0.
    """
    x = NpPolynomial([0.0, 1.0])
    one_minus_x2 = NpPolynomial([1.0, 0.0, -1.0])
    a, b = NpPolynomial([1.0]), NpPolynomial([0.0])
    out = [(a, b)]
    for m in range(order):
        a, b = (
            -one_minus_x2 * a.deriv() - (2 * m + 1) * x * a,
            -a - one_minus_x2 * b.deriv() - 2 * m * x * b,
        )
        out.append((a, b))
    return out


def RectifiedMonomial(degree: int) -> Layer:
    r"""The rectified monomial :math:`\phi(x) = [x \ge 0]\, x^n`.

    Its dual is the arc-cosine kernel of order :math:`n` (Cho & Saul 2009), with
    :math:`\theta = \arccos\rho`:

    .. math::
        K' = \frac{(q_1 q_2)^{n/2}}{2\pi} J_n(\theta),
        \qquad
        \mathbb E[\phi'\phi'] = \frac{n^2 (q_1 q_2)^{(n-1)/2}}{2\pi} J_{n-1}(\theta),

    :math:`J_0 = \pi - \theta`, :math:`J_1 = \sin\theta + (\pi - \theta)\cos\theta`,
    :math:`J_2 = 3\sin\theta\cos\theta + (\pi - \theta)(1 + 2\cos^2\theta)`, and
    in general :func:`_arc_cosine_polynomials`. For :math:`n = 0` (the step
    function) the NTK term is zero, as for :func:`Sign`. At :math:`\rho = \pm1`
    the values are exact and gradients finite (Neural Tangents 0.6.5 returns NaN
    there, e.g. on the diagonal of ``kernel_fn(x, None)``).

    References:
      Cho, Saul, `Kernel methods for deep learning
      <https://papers.nips.cc/paper/3628-kernel-methods-for-deep-learning>`_,
      NeurIPS 2009.
    """
    n = _check_degree("RectifiedMonomial", degree)
    polys = [(a.coef.tolist(), b.coef.tolist()) for a, b in _arc_cosine_polynomials(n)]

    def angular(m: int, rho: jax.Array) -> jax.Array:
        a, b = polys[m]
        theta = safe_arccos(rho)
        sin = safe_sqrt(1.0 - rho * rho)
        return (-1) ** m * ((jnp.pi - theta) * _horner(a, rho) + sin * _horner(b, rho))

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        rho, norm = correlation(c, q1, q2)
        return norm**n / (2 * jnp.pi) * angular(n, rho)

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        if n == 0:
            return jnp.zeros_like(c)
        rho, norm = correlation(c, q1, q2)
        return n**2 * norm ** (n - 1) / (2 * jnp.pi) * angular(n - 1, rho)

    def fn(x: jax.Array) -> jax.Array:
        return jnp.where(x >= 0, x**n, 0.0)

    return elementwise_layer(f"RectifiedMonomial({n})", fn, dual, dual_derivative)
