"""Pointwise nonlinearities and their dual activations.

For a nonlinearity :math:`\\phi` and jointly Gaussian pre-activations
:math:`(u, v)` with variances :math:`q_1, q_2` and covariance :math:`c`, the
infinite-width kernel transform is the *dual activation*

.. math::
    K' = \\mathbb E[\\phi(u) \\phi(v)], \\qquad
    \\Theta' = \\Theta \\cdot \\mathbb E[\\phi'(u) \\phi'(v)].

This module holds the machinery every nonlinearity shares
(:func:`elementwise_layer`) and the arc-cosine family (``ABRelu`` and its special
cases) plus ``Erf``; other activations live in ``_activations.py`` and
``_polynomial.py``, the quadrature fallback in ``_numerical.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LayerError
from . import _fastmath, _spatial
from ._kernel import Kernel
from ._layer import Layer, make_layer
from ._masking import KEEP_REMASK

# (c, q1, q2) -> E[phi(u) phi(v)], broadcasting over any shape.
Dual = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


@jax.custom_jvp
def safe_sqrt(x: jax.Array) -> jax.Array:
    """sqrt clipped at 0, with a zero derivative at 0 instead of inf.

    Correlations of exactly ±1 (an input with itself) sit on the boundary where
    ``sqrt(1 - rho^2)`` has an infinite slope; gradients through the kernel (as
    in dataset distillation) would be NaN without this.
    """
    return jnp.sqrt(jnp.maximum(x, 0.0))


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> Any:
    (x,), (dx,) = primals, tangents
    y = safe_sqrt(x)
    slope = jnp.where(x > 0.0, 0.5 / jnp.where(x > 0.0, y, 1.0), 0.0)
    return y, slope * dx


def correlation(c: jax.Array, q1: jax.Array, q2: jax.Array) -> tuple[Any, Any]:
    """``(rho, sqrt(q1 q2))`` with ``rho`` clipped into [-1, 1].

    Rounding can push ``c / sqrt(q1 q2)`` just past ±1; arccos/arcsin would then
    return NaN.
    """
    # sqrt of the per-example variances, then an outer product: N square roots
    # instead of N^2.
    norm = safe_sqrt(q1) * safe_sqrt(q2)
    rho = c / jnp.where(norm > 0.0, norm, 1.0)
    return jnp.clip(rho, -1.0, 1.0), norm


@jax.custom_jvp
def safe_arccos(x: jax.Array) -> jax.Array:
    """arccos whose derivative stays finite (zero) at ±1; see :func:`safe_sqrt`."""
    return _fastmath.arccos(x)


@safe_arccos.defjvp
def _safe_arccos_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> Any:
    (x,), (dx,) = primals, tangents
    s = safe_sqrt(1.0 - x * x)
    slope = jnp.where(s > 0.0, -1.0 / jnp.where(s > 0.0, s, 1.0), 0.0)
    return _fastmath.arccos(x), slope * dx


def pair_variances(k: Kernel) -> tuple[jax.Array, jax.Array]:
    """Variances of x1's and x2's pre-activations, broadcast against ``k.nngp``."""
    if not k.diagonal_batch:
        raise LayerError(
            "nonlinearity",
            "received covariances between different examples of one batch "
            "(diagonal_batch=False), which this version cannot transform.",
            "call kernel_fn on raw inputs, which keeps per-example variances.",
        )
    cov2 = k.cov1 if k.cov2 is None else k.cov2
    if full_spatial(k):
        q1, q2 = _spatial.diagonal(k.cov1, 1), _spatial.diagonal(cov2, 1)
        return _spread(q1[:, None], 0), _spread(q2[None, :], 1)
    return k.cov1[:, None], cov2[None, :]


def full_spatial(k: Kernel) -> bool:
    """Whether ``k`` holds covariances between different positions."""
    return not k.diagonal_spatial and k.n_spatial > 0 and jnp.ndim(k.cov1) > 1


def _spread(q: jax.Array, which: int) -> jax.Array:
    """Put per-position variances ``(*B, H, W)`` on the first (``which=0``) or
    second position axis of the full layout ``(*B, H, H', W, W')``."""
    return jnp.expand_dims(q, tuple(range(3 - which, 2 * q.ndim - 2, 2)))


def self_variances(cov: jax.Array, full: bool) -> tuple[jax.Array, jax.Array]:
    """Variance pairs for transforming ``cov1`` itself (one example against itself)."""
    if not full:
        return cov, cov
    q = _spatial.diagonal(cov, 1)
    left = jnp.expand_dims(q, tuple(range(2, 2 * q.ndim - 1, 2)))
    right = jnp.expand_dims(q, tuple(range(1, 2 * q.ndim - 2, 2)))
    return left, right


def missing_derivative_error(name: str, reason: str | None = None) -> LayerError:
    """The error for an NTK request through a nonlinearity without a derivative dual.

    ``reason`` says why the derivative is missing, e.g. the exception JAX raised
    while differentiating a user's ``nngp_fn``.
    """
    problem = (
        "the NTK needs the derivative of the nonlinearity's dual, "
        "E[phi'(u) phi'(v)], which is not available for this layer"
    )
    problem += f" ({reason})." if reason else "."
    return LayerError(
        name,
        problem,
        "pass `d_nngp_fn=` (or an `nngp_fn` JAX can differentiate), use "
        "ElementwiseNumerical, or request get='nngp' only.",
    )


def apply_dual(
    k: Kernel, dual: Dual, dual_derivative: Dual | None, name: str
) -> Kernel:
    """Transform a Kernel by a nonlinearity's dual activation and its derivative."""
    if not k.is_gaussian:
        raise LayerError(
            name,
            "its input is not Gaussian: a nonlinearity's kernel needs Gaussian "
            "pre-activations, which only an affine layer (Dense) produces.",
            f"put a Dense(...) layer before {name}.",
        )
    q1, q2 = pair_variances(k)
    ntk = k.ntk
    if ntk is not None:
        if dual_derivative is None:
            raise missing_derivative_error(name)
        ntk = ntk * dual_derivative(k.nngp, q1, q2)
    nngp = dual(k.nngp, q1, q2)
    full = full_spatial(k)
    cov1 = dual(k.cov1, *self_variances(k.cov1, full))
    cov2 = None if k.cov2 is None else dual(k.cov2, *self_variances(k.cov2, full))
    return k.replace(nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2, is_gaussian=False)


def elementwise_layer(
    name: str,
    fn: Callable[[jax.Array], jax.Array] | None,
    dual: Dual | None,
    dual_derivative: Dual | None,
    *,
    check_kernel: Callable[[Kernel], None] | None = None,
) -> Layer:
    """A parameter-free pointwise layer from ``fn`` and its dual activation.

    Args:
      name: shown in error messages.
      fn: the finite-width nonlinearity; ``None`` for kernel-only layers, whose
        ``apply_fn`` then raises.
      dual: ``(c, q1, q2) -> E[fn(u) fn(v)]``; ``None`` for finite-only layers,
        whose ``kernel_fn`` then raises.
      dual_derivative: ``(c, q1, q2) -> E[fn'(u) fn'(v)]``; ``None`` when unknown
        (the NTK then raises).
      check_kernel: called on the incoming Kernel before the transform, for
        layers whose closed form holds only under assumptions worth a warning.
    """

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, Any]:
        del key
        return input_shape, ()

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params, kwargs
        if fn is None:
            raise LayerError(
                name,
                "has no finite-width function: it is defined only by its kernel.",
                "use it through kernel_fn only, or pass `fn=` where the layer "
                "accepts one.",
            )
        return fn(inputs)

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        if dual is None:
            raise LayerError(
                name,
                "has no infinite-width kernel: no `nngp_fn` was given.",
                "pass `nngp_fn=(cov12, var1, var2) -> E[fn(u) fn(v)]`, or use "
                "ElementwiseNumerical(fn, deg=25) to integrate numerically.",
            )
        if check_kernel is not None:
            check_kernel(k)
        return apply_dual(k, dual, dual_derivative, name)

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        masking=KEEP_REMASK,
    )


def check_number(name: str, **values: Any) -> None:
    """Raise a LayerError naming ``name`` unless every value is a real number."""
    for arg, value in values.items():
        if isinstance(value, bool) or not isinstance(
            value, int | float | np.floating | np.integer
        ):
            raise LayerError(
                name, f"`{arg}={value!r}` must be a real number.", f"e.g. {arg}=1.0."
            )


def ABRelu(a: float, b: float, do_stabilize: bool = False) -> Layer:
    r"""The piecewise-linear :math:`\phi(x) = a \min(x, 0) + b \max(x, 0)`.

    Writing :math:`\phi(x) = a x + (b - a)\,\mathrm{relu}(x)` and
    :math:`\theta = \arccos\rho` gives the arc-cosine kernel of order 1
    (Cho & Saul 2009):

    .. math::
        K' = ab\,c + \frac{(b-a)^2}{2\pi}\sqrt{q_1 q_2}
             \left(\sin\theta + (\pi - \theta)\cos\theta\right),
        \qquad
        \mathbb E[\phi'\phi'] = ab + \frac{(b-a)^2}{2\pi}(\pi - \theta).

    At :math:`\rho = \pm 1` the derivative of :math:`\theta` is infinite; it is
    replaced by 0 so gradients with respect to inputs stay finite.

    Args:
      a: slope for negative inputs.
      b: slope for positive inputs.
      do_stabilize: accepted for Neural Tangents compatibility; the kernel is
        computed in a numerically stable form regardless.
    """
    del do_stabilize
    return _arc_cosine_layer("ABRelu", a, b)


def _arc_cosine_layer(name: str, a: float, b: float) -> Layer:
    check_number(name, a=a, b=b)

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        rho, norm = correlation(c, q1, q2)
        theta = safe_arccos(rho)
        arc = safe_sqrt(1.0 - rho * rho) + (jnp.pi - theta) * rho
        return a * b * c + (b - a) ** 2 / (2 * jnp.pi) * norm * arc

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        rho, _ = correlation(c, q1, q2)
        theta = safe_arccos(rho)
        return a * b + (b - a) ** 2 / (2 * jnp.pi) * (jnp.pi - theta)

    def fn(x: jax.Array) -> jax.Array:
        return a * jnp.minimum(x, 0) + b * jnp.maximum(x, 0)

    return elementwise_layer(name, fn, dual, dual_derivative)


def Relu(do_stabilize: bool = False) -> Layer:
    """Rectified linear unit, ``max(x, 0)``: :func:`ABRelu` with a=0, b=1."""
    del do_stabilize
    return _arc_cosine_layer("Relu", 0.0, 1.0)


def LeakyRelu(alpha: float, do_stabilize: bool = False) -> Layer:
    """``x`` for positive inputs, ``alpha * x`` otherwise: ``ABRelu(alpha, 1)``."""
    del do_stabilize
    return _arc_cosine_layer("LeakyRelu", alpha, 1.0)


def Abs(do_stabilize: bool = False) -> Layer:
    """Absolute value: :func:`ABRelu` with a=-1, b=1."""
    del do_stabilize
    return _arc_cosine_layer("Abs", -1.0, 1.0)


def Erf(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    r"""The scaled error function :math:`\phi(x) = a\,\mathrm{erf}(b x) + c`.

    The arcsine kernel (Williams 1997) with input scale :math:`b`:

    .. math::
        K' = \frac{2a^2}{\pi}\arcsin\frac{2b^2 c}
             {\sqrt{(1 + 2b^2 q_1)(1 + 2b^2 q_2)}} + c^2,
        \qquad
        \mathbb E[\phi'\phi'] = \frac{4a^2b^2}{\pi}
             \left((1 + 2b^2 q_1)(1 + 2b^2 q_2) - 4b^4 c^2\right)^{-1/2}.

    (Here the offset :math:`c` of the activation and the covariance share a
    letter in the literature; in code the offset is ``c`` and the covariance is
    ``cov``.)
    """
    check_number("Erf", a=a, b=b, c=c)
    offset = c

    def dual(cov: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        denom = jnp.sqrt((1 + 2 * b**2 * q1) * (1 + 2 * b**2 * q2))
        ratio = jnp.clip(2 * b**2 * cov / denom, -1.0, 1.0)
        return 2 * a**2 / jnp.pi * _fastmath.arcsin(ratio) + offset**2

    def dual_derivative(cov: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        det = (1 + 2 * b**2 * q1) * (1 + 2 * b**2 * q2) - 4 * b**4 * cov**2
        return 4 * a**2 * b**2 / jnp.pi / jnp.sqrt(det)

    def fn(x: jax.Array) -> jax.Array:
        return a * jax.scipy.special.erf(b * x) + offset

    return elementwise_layer("Erf", fn, dual, dual_derivative)
