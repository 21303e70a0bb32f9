r"""Closed-form nonlinearities: sinusoids, exponentials, sign, GELU, custom duals.

Each layer is a pointwise :math:`\phi` whose dual activation over centred jointly
Gaussian pre-activations :math:`(u, v)` with variances :math:`q_1, q_2` and
covariance :math:`c` has a closed form. The NTK needs
:math:`\mathbb E[\phi'(u)\phi'(v)]`, which by Price's theorem equals
:math:`\partial_c\,\mathbb E[\phi(u)\phi(v)]`; every derivative below is that
derivative, checked against Monte Carlo in ``tests/kernels/test_activations.py``.

Conventions follow Neural Tangents 0.6.5 (``stax.elementwise``) wherever it
fixes one: ``Gelu``'s kernel is the exact erf GELU even with
``approximate=True``; ``Sign``'s NTK is zero; ``ExpNormalized`` has no finite
network; ``Sigmoid_like`` is a scaled ``Erf``. Polynomial activations live in
``_polynomial.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import jax
import jax.numpy as jnp

from ..errors import LayerError
from ._elementwise import (
    Erf,
    check_number,
    correlation,
    elementwise_layer,
    missing_derivative_error,
    safe_arccos,
    safe_sqrt,
)
from ._layer import Layer

# (cov12, var1, var2) -> expectation, for user-supplied duals.
NngpFn = Callable[[Any, Any, Any], Any]

SIGMOID_LIKE_SCALE: Final = 2.4020563531719796
"""Input scale ``s`` of ``0.5 * erf(x / s) + 0.5``: Neural Tangents' least-squares
fit of the logistic sigmoid on [-5, 5]
(https://gist.github.com/SiuMath/679e8bb4bce13d5f2383a27eca649575)."""


def Gelu(approximate: bool = False) -> Layer:
    r"""Gaussian error linear unit :math:`\phi(x) = x\,\Phi(x)`.

    With :math:`P = (1 + q_1)(1 + q_2)`, :math:`\delta = \sqrt{P - c^2}` and
    :math:`\alpha = \arcsin(c / \sqrt P)`:

    .. math::
        K' = \frac c4 + \frac1{2\pi}\left(c\,\alpha
             + \frac{c^2 + q_1 q_2\,\delta^2}{P\,\delta}\right),
        \qquad
        \mathbb E[\phi'\phi'] = \frac14 + \frac{\alpha}{2\pi}
             + \frac{c}{2\pi\delta}\left(1 + \frac1{\delta^2}
             + \frac{1 - q_1 q_2}{P}\right).

    :math:`\delta^2 \ge 1 + q_1 + q_2 > 0`, so there is no singular point.

    Args:
      approximate: only changes the finite network's ``apply_fn`` (the tanh
        approximation of :func:`jax.nn.gelu`); ``kernel_fn`` is always the exact
        erf GELU, as in Neural Tangents.

    References:
      Tsuchida, Pearce, van der Heide, Roosta, Gallagher, `Avoiding kernel fixed
      points: computing with ELU and GELU infinite networks
      <https://arxiv.org/abs/2002.08517>`_, AAAI 2021.
    """
    if not isinstance(approximate, bool):
        raise LayerError(
            "Gelu",
            f"`approximate={approximate!r}` must be True or False.",
            "use Gelu() for the exact erf form or Gelu(approximate=True) for tanh.",
        )

    def parts(c: jax.Array, q1: jax.Array, q2: jax.Array) -> tuple[Any, ...]:
        p = (1 + q1) * (1 + q2)
        delta_sq = p - c * c
        delta = jnp.sqrt(delta_sq)
        return p, delta_sq, delta, jnp.arctan2(c, delta)

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        p, delta_sq, delta, alpha = parts(c, q1, q2)
        bracket = c * alpha + (c * c + q1 * q2 * delta_sq) / (p * delta)
        return c / 4 + bracket / (2 * jnp.pi)

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        p, delta_sq, delta, alpha = parts(c, q1, q2)
        slope = 1 + 1 / delta_sq + (1 - q1 * q2) / p
        return 0.25 + alpha / (2 * jnp.pi) + c / (2 * jnp.pi * delta) * slope

    def fn(x: jax.Array) -> jax.Array:
        return jax.nn.gelu(x, approximate=approximate)

    return elementwise_layer("Gelu", fn, dual, dual_derivative)


def _sinusoid(name: str, a: float, b: float, phase: float) -> Layer:
    check_number(name, a=a, b=b, c=phase)

    def decay(c: jax.Array, q1: jax.Array, q2: jax.Array, sign: float) -> jax.Array:
        # exp(b^2 (sign * c - (q1 + q2) / 2)) <= 1 because |c| <= (q1 + q2) / 2:
        # combining the exponents avoids overflow for large variances.
        return jnp.exp(b**2 * (sign * c - (q1 + q2) / 2))

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        same, opposite = decay(c, q1, q2, 1.0), decay(c, q1, q2, -1.0)
        return a**2 / 2 * (same - math.cos(2 * phase) * opposite)

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        same, opposite = decay(c, q1, q2, 1.0), decay(c, q1, q2, -1.0)
        return a**2 * b**2 / 2 * (same + math.cos(2 * phase) * opposite)

    def fn(x: jax.Array) -> jax.Array:
        return a * jnp.sin(b * x + phase)

    return elementwise_layer(name, fn, dual, dual_derivative)


def Sin(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    r"""The sinusoid :math:`\phi(x) = a \sin(b x + c)`.

    From :math:`\sin\sin = \frac12[\cos(\cdot-\cdot) - \cos(\cdot+\cdot)]` and
    :math:`\mathbb E\cos(w) = e^{-\mathrm{Var}(w)/2}` for centred Gaussian
    :math:`w` (here :math:`k` is the covariance, :math:`c` the phase):

    .. math::
        K' = \frac{a^2}2 e^{-b^2 (q_1 + q_2)/2}
             \left(e^{b^2 k} - \cos(2c)\, e^{-b^2 k}\right),
        \qquad
        \mathbb E[\phi'\phi'] = \frac{a^2 b^2}2 e^{-b^2 (q_1 + q_2)/2}
             \left(e^{b^2 k} + \cos(2c)\, e^{-b^2 k}\right).

    Args:
      a: output scale.
      b: input scale.
      c: phase shift of the input.

    References:
      Pearce, Tsuchida, Zaki, Brintrup, Neely, `Expressive priors in Bayesian
      neural networks: kernel combinations and periodic functions
      <https://arxiv.org/abs/1905.06076>`_, UAI 2019.
    """
    return _sinusoid("Sin", a, b, c)


def Cos(a: float = 1.0, b: float = 1.0, c: float = 0.0) -> Layer:
    r""":math:`\phi(x) = a \cos(b x + c)`: :func:`Sin` with phase :math:`c + \pi/2`."""
    check_number("Cos", a=a, b=b, c=c)
    return _sinusoid("Cos", a, b, c + math.pi / 2)


def Rbf(gamma: float = 1.0) -> Layer:
    r"""Random Fourier features of the RBF kernel.

    :math:`\phi(x) = \sqrt2 \sin(\sqrt{2\gamma}\,x + \pi/4)`, whose dual (by
    :func:`Sin` with :math:`\cos(\pi/2) = 0`) is the squared-exponential kernel of
    the pre-activations; for ``Dense(W_std=1)`` on inputs of dimension ``d`` it
    is :math:`\exp(-\gamma \lVert x - x' \rVert^2 / d)`:

    .. math::
        K' = e^{-\gamma (q_1 + q_2 - 2c)},
        \qquad
        \mathbb E[\phi'\phi'] = 2\gamma\, e^{-\gamma (q_1 + q_2 - 2c)}.

    Args:
      gamma: inverse squared length scale, :math:`\gamma = 1 / (2 \ell^2)`.

    References:
      Rahimi, Recht, `Random features for large-scale kernel machines
      <https://papers.nips.cc/paper/3182-random-features-for-large-scale-kernel-machines>`_,
      NeurIPS 2007.
    """
    check_number("Rbf", gamma=gamma)

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return jnp.exp(gamma * (2 * c - q1 - q2))

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return 2 * gamma * dual(c, q1, q2)

    def fn(x: jax.Array) -> jax.Array:
        return math.sqrt(2) * jnp.sin(math.sqrt(2 * gamma) * x + math.pi / 4)

    return elementwise_layer("Rbf", fn, dual, dual_derivative)


def Exp(a: float = 1, b: float = 1) -> Layer:
    r"""The exponential :math:`\phi(x) = a\,e^{b x}`.

    The moment generating function of :math:`b(u + v)` gives

    .. math::
        K' = a^2 \exp\!\Big(b^2 \big(\tfrac{q_1 + q_2}2 + c\big)\Big),
        \qquad
        \mathbb E[\phi'\phi'] = b^2 K'.
    """
    check_number("Exp", a=a, b=b)

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return a**2 * jnp.exp(b**2 * ((q1 + q2) / 2 + c))

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return b**2 * dual(c, q1, q2)

    def fn(x: jax.Array) -> jax.Array:
        return a * jnp.exp(b * x)

    return elementwise_layer("Exp", fn, dual, dual_derivative)


def Gaussian(a: float = 1, b: float = -1) -> Layer:
    r"""The Gaussian bump :math:`\phi(x) = a\,e^{b x^2}`.

    A Gaussian integral over :math:`(u, v)` with covariance :math:`\Sigma`
    gives :math:`a^2 \det(I - 2b\Sigma)^{-1/2}`:

    .. math::
        K' = \frac{a^2}{\sqrt{D}}, \quad
        D = (1 - 2b q_1)(1 - 2b q_2) - 4 b^2 c^2,
        \qquad
        \mathbb E[\phi'\phi'] = \frac{4 a^2 b^2 c}{D^{3/2}}.

    The expectation is finite only while :math:`D > 0` and
    :math:`1 - 2 b q > 0`, which always holds for :math:`b < 0`; for
    :math:`b > 0` and large variances the kernel is ``inf``, as in NT.
    """
    check_number("Gaussian", a=a, b=b)

    def det(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return (1 - 2 * b * q1) * (1 - 2 * b * q2) - 4 * b**2 * c**2

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return a**2 / safe_sqrt(det(c, q1, q2))

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return 4 * a**2 * b**2 * c / safe_sqrt(det(c, q1, q2)) ** 3

    def fn(x: jax.Array) -> jax.Array:
        return a * jnp.exp(b * x**2)

    return elementwise_layer("Gaussian", fn, dual, dual_derivative)


def ExpNormalized(gamma: float = 1, shift: float = -1, do_clip: bool = False) -> Layer:
    r"""The normalised Gaussian kernel, a kernel-only layer.

    With the correlation :math:`\rho = c / \sqrt{q_1 q_2}`:

    .. math::
        K' = \sqrt{q_1 q_2}\; e^{\gamma(\rho + \mathrm{shift})},
        \qquad
        \Theta' = \Theta \cdot \gamma\, e^{\gamma(\rho + \mathrm{shift})},

    the second being :math:`\partial_c K'`. No pointwise nonlinearity has this
    dual for all variances, so ``apply_fn`` raises (as in Neural Tangents). At
    unit variances it equals :func:`Rbf` (``gamma / 2``) scaled by
    :math:`e^{\gamma(1 + \mathrm{shift})}`, which the tests use for Monte Carlo.
    A zero variance gives :math:`\rho = 0`.

    Args:
      gamma: exponent scale.
      shift: added to the correlation inside the exponent.
      do_clip: clip :math:`\rho` to [-1, 1] first (rounding can push it past 1).

    References:
      Shankar, Fang, Guo, Fridovich-Keil, Schmidt, Ragan-Kelley, Recht, `Neural
      kernels without tangents <https://arxiv.org/abs/2003.02237>`_, ICML 2020,
      p. 6.
    """
    check_number("ExpNormalized", gamma=gamma, shift=shift)

    def exponential(c: jax.Array, q1: jax.Array, q2: jax.Array) -> tuple[Any, Any]:
        norm = safe_sqrt(q1 * q2)
        rho = c / jnp.where(norm > 0, norm, 1.0)
        if do_clip:
            rho = jnp.clip(rho, -1.0, 1.0)
        return jnp.exp(gamma * (rho + shift)), norm

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        e, norm = exponential(c, q1, q2)
        return norm * e

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        return gamma * exponential(c, q1, q2)[0]

    return elementwise_layer("ExpNormalized", None, dual, dual_derivative)


def Sign() -> Layer:
    r"""The sign function, an arc-cosine kernel of order 0.

    With :math:`\theta = \arccos\rho`, since
    :math:`\mathrm{sign} = 2H - 1` and :math:`\mathbb E[H(u)H(v)] =
    (\pi - \theta)/2\pi` (Cho & Saul 2009):

    .. math:: K' = 1 - \frac{2\theta}{\pi} = \frac2\pi \arcsin\rho .

    Its derivative is zero except at 0, so, as in Neural Tangents, the NTK of the
    layers before it is dropped: :math:`\Theta' = 0`. A zero variance gives
    :math:`K' = 0` (sign(0) = 0).

    References:
      Cho, Saul, `Kernel methods for deep learning
      <https://papers.nips.cc/paper/3628-kernel-methods-for-deep-learning>`_,
      NeurIPS 2009.
    """

    def dual(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        rho, norm = correlation(c, q1, q2)
        return jnp.where(norm > 0, 1 - 2 / jnp.pi * safe_arccos(rho), 0.0)

    def dual_derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        del q1, q2
        return jnp.zeros_like(c)

    return elementwise_layer("Sign", jnp.sign, dual, dual_derivative)


def Sigmoid_like() -> Layer:
    r"""A sigmoid made of erf: :math:`\phi(x) = \frac12 \mathrm{erf}(x / s) + \frac12`.

    ``s`` is :data:`SIGMOID_LIKE_SCALE`; the kernel is :func:`Erf`'s with
    ``a=0.5, b=1/s, c=0.5``.
    """
    return Erf(a=0.5, b=1 / SIGMOID_LIKE_SCALE, c=0.5)


def Elementwise(
    fn: Callable[[Any], Any] | None = None,
    nngp_fn: NngpFn | None = None,
    d_nngp_fn: NngpFn | None = None,
) -> Layer:
    r"""A nonlinearity from its function and its dual, as Neural Tangents' ``Elementwise``.

    Args:
      fn: the scalar nonlinearity :math:`\phi` for the finite network; ``None``
        makes ``apply_fn`` raise.
      nngp_fn: ``(cov12, var1, var2) -> E[fn(u) fn(v)]`` for scalars, with
        :math:`(u, v)` centred Gaussian; ``None`` makes ``kernel_fn`` raise.
      d_nngp_fn: ``(cov12, var1, var2) -> E[fn'(u) fn'(v)]``. When ``None`` it is
        :math:`\partial\,\mathtt{nngp\_fn} / \partial\,\mathtt{cov12}` by JAX
        autodiff (Price's theorem); if JAX cannot differentiate ``nngp_fn``, an
        NTK request raises a LayerError saying so.

    Both functions see scalars; they are vectorised with :func:`jax.numpy.vectorize`.

    References:
      Price, `A useful theorem for nonlinear devices having Gaussian inputs
      <https://doi.org/10.1109/TIT.1958.1057444>`_, IRE Trans. Inf. Theory, 1958.
    """
    if fn is None and nngp_fn is None:
        raise LayerError(
            "Elementwise",
            "neither `fn` (finite width) nor `nngp_fn` (infinite width) was "
            "given, so the layer would do nothing.",
            "pass fn=jnp.tanh and/or nngp_fn=(cov12, var1, var2) -> E[fn(u) fn(v)].",
        )
    for arg, value in (("fn", fn), ("nngp_fn", nngp_fn), ("d_nngp_fn", d_nngp_fn)):
        if value is not None and not callable(value):
            raise LayerError(
                "Elementwise",
                f"`{arg}={value!r:.60}` is not callable.",
                f"pass a function as `{arg}`.",
            )
    label = getattr(fn if fn is not None else nngp_fn, "__name__", "fn")
    name = f"Elementwise({label})"
    dual = None if nngp_fn is None else jnp.vectorize(nngp_fn)
    if d_nngp_fn is not None:
        derivative = jnp.vectorize(d_nngp_fn)
    elif nngp_fn is not None:
        derivative = _autodiff_derivative(name, nngp_fn)
    else:
        derivative = None
    return elementwise_layer(name, fn, dual, derivative)


def _autodiff_derivative(name: str, nngp_fn: NngpFn) -> NngpFn:
    slope = jnp.vectorize(jax.grad(nngp_fn, argnums=0))

    def derivative(c: jax.Array, q1: jax.Array, q2: jax.Array) -> jax.Array:
        try:
            return slope(c, q1, q2)
        except (TypeError, ValueError, NotImplementedError) as e:
            # JAX reports non-differentiable code (callbacks, integer casts,
            # NumPy calls on tracers) with these types.
            reason = f"JAX could not differentiate `nngp_fn`: {type(e).__name__}: {e}"
            raise missing_derivative_error(name, reason.splitlines()[0]) from None

    return derivative
