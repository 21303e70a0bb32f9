r"""Taylor features of a fully connected network's kernel: ``TaylorFeatures``.

On a sphere :math:`|x| = r` every kernel of a fully connected network (dense
layers, elementwise activations, layer norm, in any depth) depends on the inputs
only through their cosine :math:`\rho = x \cdot y / r^2`, and is a power series
with non-negative coefficients,

.. math::
    k(\rho) = \sum_{p \ge 0} c_p\, \rho^p, \qquad c_p \ge 0

(Schoenberg: the kernel is positive definite on spheres of every dimension). So
:math:`\Phi(x) = \bigoplus_p \sqrt{c_p}\, \hat x^{\otimes p}` is a feature map
of the whole network at once, with :math:`\hat x = x / |x|`. Degree by degree:

* ``p <= exact_degree``: the symmetric tensor power, exactly, in
  :math:`\binom{d + p - 1}{p}` columns (the products
  :math:`\hat x_{i_1} \cdots \hat x_{i_p}`, :math:`i_1 \le \dots \le i_p`,
  weighted by the square roots of their multinomial counts);
* ``exact_degree < p <= degree`` (when ``sketch_dim > 0``): PolySketch of
  :math:`\hat x^{\otimes p}`, unbiased, ``sketch_dim`` columns each;
* the rest, the **tail** :math:`T = k(1) - \sum_{\text{kept}} c_p`, is not
  featurised. It is the whole gap on the diagonal (:math:`\rho = 1`) and
  at most :math:`T |\rho|^{p_{\max}+1}` off it. In :math:`d` dimensions the
  cosines of distinct points are :math:`O(1/\sqrt d)`, so the high-degree terms
  of the kernel matrix act, to that order, like :math:`T\,I` (El Karoui 2010):
  regression adds :math:`T` to its ridge (``diagonal_tail`` of
  ``gradient_descent_mse``).

This is the layer-by-layer sketch of ``ReluFeatures`` turned around: one
feature map of the network's composed dual instead of one random sketch per
layer, whose noise compounds and swamps the low-degree components that carry
most of what kernel regression learns (``bench/RESULTS.md``).

The coefficients come from the network's own ``kernel_fn``, evaluated in
float64 at Chebyshev cosines in :math:`[-1/2, 1/2]` and interpolated by a
degree-``FIT_DEGREE`` polynomial: the series converges in the unit disc, so the
interpolant's error there is ~:math:`(2 + \sqrt 3)^{-\mathrm{FIT\_DEGREE}}`.

References:
  Han, Zandieh, Lee, Novak, Xiao, Karbasi, `Fast Neural Kernel Embeddings for
  General Activations <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022.

  Zandieh, Han, Avron, Shoham, Kim, Shin, `Scaling Neural Tangent Kernels via
  Sketching and Random Features <https://arxiv.org/abs/2106.07880>`_,
  NeurIPS 2021 (Taylor features of the NTK on the sphere).

  El Karoui, `The spectrum of kernel random matrices
  <https://arxiv.org/abs/1001.0492>`_, Ann. Statist. 2010.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError, LayerError
from ._features import (
    FeatureLayer,
    Features,
    FeatureShapes,
    as_shapes,
    check_positive_int,
    host_rng,
)
from ._polysketch import polysketch, polysketch_dims, polysketch_init

NAME: Final = "TaylorFeatures"
# Cosines sampled in [-SPAN, SPAN]: the series converges for |rho| < 1, so the
# Bernstein ellipse of this interval reaches 1 / SPAN + sqrt(1 / SPAN^2 - 1).
SPAN: Final = 0.5
FIT_DEGREE: Final = 20
FIT_NODES: Final = 64
# Beyond this the fitted coefficients lose digits (their error grows like
# SPAN^-p); higher degrees are better left in the tail.
MAX_DEGREE: Final = 10
# Relative size of a negative coefficient or tail that rounding cannot explain.
NEGATIVE_TOLERANCE: Final = 1e-7
# Inputs farther than this (relative) from the sphere are rejected.
RADIUS_TOLERANCE: Final = 1e-4


class TaylorSeries(NamedTuple):
    """The network's kernels on the sphere as power series in the cosine."""

    nngp: np.ndarray  # (MAX_DEGREE + 1,) c_0 .. c_MAX_DEGREE, clipped at 0
    ntk: np.ndarray
    nngp_at_one: float  # k(1): the kernel's diagonal
    ntk_at_one: float
    fit_error: float  # largest |fit - kernel_fn| at the sampled cosines, relative


class TaylorParams(NamedTuple):
    """What ``TaylorFeatures``' ``init_fn`` returns as params."""

    nngp_weights: jax.Array  # sqrt(c_p) of each featurised degree
    ntk_weights: jax.Array
    nngp_tail: jax.Array  # k(1) minus the featurised c_p: the ridge it adds
    ntk_tail: jax.Array
    sketch: Any  # PolySketch of the sketched degrees, or None
    series: TaylorSeries


def _check_degree(arg: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise LayerError(NAME, f"`{arg}={value!r}` must be an integer >= {low}.", None)
    if value > MAX_DEGREE:
        raise LayerError(
            NAME,
            f"`{arg}={value}` is above {MAX_DEGREE}, where the fitted Taylor "
            "coefficients stop being accurate.",
            f"use at most {MAX_DEGREE}; higher degrees stay in the tail, which "
            "regression treats as ridge.",
        )
    return value


def _kernel_matrices(kernel_fn, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
    try:
        with jax.enable_x64():
            # One compiled program: eager stax dispatches (and compiles) op by
            # op, seconds for a deep network.
            out = jax.jit(functools.partial(kernel_fn, get=("nngp", "ntk")))(u, v)
            return tuple(np.asarray(a, np.float64) for a in out)
    except Exception as e:  # noqa: BLE001 - any failure means the network is not FC
        reason = str(e).split("\n-----")[0]  # without JAX's traceback note
        raise LayerError(
            NAME,
            f"kernel_fn failed on {u.shape[1]}-dimensional vectors "
            f"({type(e).__name__}: {reason}).",
            "TaylorFeatures covers fully connected networks (Dense, elementwise "
            "activations, LayerNorm); for convolutions use ConvFeatures.",
        ) from e


def taylor_series(kernel_fn: Callable, d: int, radius: float) -> TaylorSeries:
    r"""Power series in the cosine of ``kernel_fn``'s NNGP and NTK on a sphere.

    Args:
      kernel_fn: a ``stax`` kernel function of a fully connected network.
      d: input dimension (at least 2).
      radius: norm of the inputs.

    Raises:
      LayerError: the kernel is not a function of the cosine alone (the
        network is not fully connected), or has a negative coefficient.
    """
    j = np.arange(FIT_NODES)
    rho = SPAN * np.cos(np.pi * (j + 0.5) / FIT_NODES)
    u = np.zeros((1, d))
    u[0, 0] = radius
    v = np.zeros((FIT_NODES + 1, d))
    v[:FIT_NODES, 0] = radius * rho
    v[:FIT_NODES, 1] = radius * np.sqrt(1.0 - rho**2)
    v[FIT_NODES, 0] = radius  # rho = 1: the diagonal
    # A kernel of the cosine alone is invariant under rotations of both
    # inputs: a few pairs are evaluated rotated too, in the same call.
    rotation, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((d, d)))
    picks = np.array([0, FIT_NODES // 3, FIT_NODES - 1, FIT_NODES])
    nngp_all, ntk_all = _kernel_matrices(
        kernel_fn,
        np.concatenate([u, u @ rotation]),
        np.concatenate([v, v[picks] @ rotation]),
    )
    nngp_k, ntk_k = nngp_all[0, : FIT_NODES + 1], ntk_all[0, : FIT_NODES + 1]
    rot_nngp, rot_ntk = nngp_all[1, FIT_NODES + 1 :], ntk_all[1, FIT_NODES + 1 :]
    scale = max(abs(nngp_k[-1]), abs(ntk_k[-1]), np.finfo(float).tiny)
    drift = max(
        np.max(np.abs(rot_nngp - nngp_k[picks])), np.max(np.abs(rot_ntk - ntk_k[picks]))
    )
    if not np.isfinite(drift) or drift > 1e-8 * scale:
        raise LayerError(
            NAME,
            "the kernel changes when both inputs are rotated together, so it is "
            "not a function of their cosine (or it is not finite).",
            "TaylorFeatures covers fully connected networks (Dense, elementwise "
            "activations, LayerNorm) on vectors.",
        )
    fits, error = [], 0.0
    for name, values in (("NNGP", nngp_k), ("NTK", ntk_k)):
        cheb = np.polynomial.Chebyshev.fit(
            rho, values[:FIT_NODES], FIT_DEGREE, domain=[-SPAN, SPAN]
        )
        error = max(
            error, float(np.max(np.abs(cheb(rho) - values[:FIT_NODES]))) / scale
        )
        coef = cheb.convert(kind=np.polynomial.Polynomial, domain=[-1, 1]).coef
        coef = np.pad(coef, (0, max(0, MAX_DEGREE + 1 - len(coef))))[: MAX_DEGREE + 1]
        floor = -NEGATIVE_TOLERANCE * max(abs(values[-1]), np.finfo(float).tiny)
        bad = np.flatnonzero(coef < floor)
        if bad.size:
            raise LayerError(
                NAME,
                f"the {name} on the sphere has a negative Taylor coefficient "
                f"(degree {bad[0]}: {coef[bad[0]]:.3g}), which no positive "
                "definite kernel of a fully connected network has.",
                "check that kernel_fn is a stax network of Dense, elementwise "
                "activations and LayerNorm layers.",
            )
        fits.append(np.maximum(coef, 0.0))
    return TaylorSeries(fits[0], fits[1], float(nngp_k[-1]), float(ntk_k[-1]), error)


@functools.lru_cache(maxsize=16)
def _symmetric_power_index(d: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Index tuples ``i_1 <= ... <= i_p`` and the square roots of their counts."""
    combos = np.array(
        list(itertools.combinations_with_replacement(range(d), p)), np.int32
    ).reshape(-1, p)
    counts = np.array(
        [
            math.factorial(p)
            / math.prod(
                math.factorial(c) for c in np.unique(row, return_counts=True)[1]
            )
            for row in combos
        ]
    )
    return combos, np.sqrt(counts)


def symmetric_power_dim(d: int, p: int) -> int:
    """Columns of the exact degree-``p`` feature of ``d``-dim inputs."""
    return math.comb(d + p - 1, p)


def symmetric_power(u: jax.Array, p: int) -> jax.Array:
    r"""Features whose inner products are :math:`(u \cdot v)^p`, without repeats."""
    if p == 0:
        return jnp.ones(u.shape[:-1] + (1,), u.dtype)
    if p == 1:
        return u
    combos, weights = _symmetric_power_index(u.shape[-1], p)
    out = jnp.asarray(weights, u.dtype) * jnp.take(u, combos[:, 0], axis=-1)
    for k in range(1, p):
        out = out * jnp.take(u, combos[:, k], axis=-1)
    return out


class _TaylorFeatureFn:
    """``feature_fn`` with a host-side check ``feature_batches`` calls per batch."""

    def __init__(self, exact_degree: int, sketch_degrees: range, radius: float | None):
        self.exact_degree = exact_degree
        self.sketch_degrees = sketch_degrees
        self.radius = radius

    def radius_for(self, d: int) -> float:
        """The sphere's radius for ``d``-dimensional inputs: ``sqrt(d)`` unless given."""
        return math.sqrt(d) if self.radius is None else float(self.radius)

    def check_inputs(self, x: Any, first_row: int = 0) -> None:
        """Reject inputs off the sphere: the features assume ``|x| = radius``.

        ``first_row`` numbers the rows of a batch as in the whole data set.
        """
        x = np.asarray(x)
        if x.ndim != 2:
            raise InputError(
                f"{NAME} takes vectors of shape (n, d); got shape {x.shape}. "
                "Fix: flatten each example (x.reshape(len(x), -1))."
            )
        radius = self.radius_for(x.shape[1])
        norms = np.linalg.norm(x.astype(np.float64), axis=1)
        off = ~(np.abs(norms - radius) <= RADIUS_TOLERANCE * radius)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InputError(
                f"{NAME}: {int(off.sum())} of {len(x)} inputs are off the sphere "
                f"|x| = {radius:.6g} where the features are exact (row "
                f"{first_row + i} has "
                f"|x| = {norms[i]:.6g}); there a fully connected network's kernel "
                "depends only on the cosine. Fix: project the data, "
                f"x = x / np.linalg.norm(x, axis=1, keepdims=True) * {radius:.6g} "
                "(remove NaN rows first), or use ReluFeatures' random features, "
                "which take any norm."
            )

    def __call__(self, x: Any, params: TaylorParams, **kwargs: Any) -> Features:
        del kwargs
        if isinstance(x, Features):
            raise LayerError(
                NAME,
                "got the features of an earlier layer; TaylorFeatures is a whole "
                "network and takes the raw inputs.",
                "pass x itself, not serial(...) features.",
            )
        if not isinstance(x, jax.core.Tracer):
            self.check_inputs(x)
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
        unit = x / jnp.where(norm > 0, norm, 1.0)
        powers = [symmetric_power(unit, p) for p in range(self.exact_degree + 1)]
        if self.sketch_degrees:
            sketched = polysketch(params.sketch, unit)
            powers += [sketched[p - 1] for p in self.sketch_degrees]

        def weigh(weights: jax.Array) -> jax.Array:
            w = weights.astype(x.dtype)
            return jnp.concatenate([w[i] * f for i, f in enumerate(powers)], axis=-1)

        return Features(weigh(params.nngp_weights), weigh(params.ntk_weights))


def TaylorFeatures(
    kernel_fn: Callable,
    exact_degree: int = 2,
    sketch_dim: int = 0,
    degree: int | None = None,
    *,
    radius: float | None = None,
) -> FeatureLayer:
    r"""Deterministic features of a fully connected network's NNGP and NTK.

    The network's kernels on the sphere :math:`|x| = r` are power series in the
    cosine (:mod:`nkwidgets._sketch._taylor`); degrees up to ``exact_degree``
    are featurised exactly, degrees up to ``degree`` by PolySketch when
    ``sketch_dim > 0``, and the rest (``params.ntk_tail``, ``params.nngp_tail``)
    is passed to regression as ``diagonal_tail``. With ``d = 64`` and
    ``exact_degree=2`` the features have ``1 + 64 + 2080`` columns and no
    randomness.

    Args:
      kernel_fn: the ``stax`` kernel function of the network (Dense,
        elementwise activations, LayerNorm; any depth).
      exact_degree: highest degree featurised exactly
        (:math:`\binom{d + p - 1}{p}` columns for degree ``p``).
      sketch_dim: PolySketch width of each degree above ``exact_degree``
        (0: none, they stay in the tail).
      degree: highest sketched degree (default ``exact_degree + 2`` when
        ``sketch_dim > 0``).
      radius: norm of every input (default :math:`\sqrt d`); ``feature_fn``
        rejects inputs off this sphere, except under ``jax.jit``, where it
        projects them onto it.

    Returns:
      ``FeatureLayer(init_fn, feature_fn)``; ``init_fn(key, (n, d))`` returns
      :class:`TaylorParams`, whose ``series`` holds the fitted coefficients.

    Example:
      >>> import numpy as np
      >>> from nkwidgets import sketch, stax
      >>> kernel_fn = stax.serial(stax.Dense(512, 1.5, 0.05), stax.Relu(),
      ...                         stax.Dense(1, 1.5, 0.05))[2]
      >>> init_fn, feature_fn = sketch.TaylorFeatures(kernel_fn)
      >>> _, params = init_fn(None, (-1, 64))
      >>> x = np.random.default_rng(0).standard_normal((3, 64))
      >>> x = x / np.linalg.norm(x, axis=1, keepdims=True) * 8.0
      >>> feature_fn(x, params).ntk_feat.shape
      (3, 2145)
    """
    if not callable(kernel_fn):
        raise LayerError(
            NAME,
            f"`kernel_fn={kernel_fn!r}` is not callable.",
            "pass the third function of stax.serial(...).",
        )
    exact_degree = _check_degree("exact_degree", exact_degree, 0)
    sketch_dim = (
        0 if sketch_dim == 0 else check_positive_int(NAME, "sketch_dim", sketch_dim)
    )
    if degree is None:
        degree = min(exact_degree + 2, MAX_DEGREE) if sketch_dim else exact_degree
    degree = _check_degree("degree", degree, exact_degree)
    if radius is not None and (
        isinstance(radius, bool) or not isinstance(radius, int | float) or radius <= 0
    ):
        raise LayerError(NAME, f"`radius={radius!r}` must be a positive number.", None)
    sketch_degrees = range(exact_degree + 1, degree + 1) if sketch_dim else range(0)
    feature_fn = _TaylorFeatureFn(exact_degree, sketch_degrees, radius)

    def init_fn(key: Any, input_shape: Any) -> tuple[FeatureShapes, TaylorParams]:
        shapes = as_shapes(NAME, input_shape)
        if len(shapes.nngp) != 2:
            raise LayerError(
                NAME,
                f"input shape {shapes.nngp} is not (n, d): TaylorFeatures takes vectors.",
                "flatten each example first.",
            )
        d = shapes.nngp[-1]
        if d < 2:
            raise LayerError(
                NAME,
                f"inputs have d = {d}; on a 1-dimensional sphere the cosine is only +-1.",
                "use ReluFeatures / ElementwiseFeatures for 1-dimensional inputs.",
            )
        series = taylor_series(kernel_fn, d, feature_fn.radius_for(d))
        kept = list(range(exact_degree + 1)) + list(sketch_degrees)
        sketch = None
        if sketch_degrees:
            if key is None:
                raise LayerError(
                    NAME,
                    "sketched degrees need a PRNG key.",
                    "pass jax.random.PRNGKey(0).",
                )
            sketch = polysketch_init(host_rng(NAME, key), d, sketch_dim, degree)
        tails = [
            max(at_one - float(np.sum(c[kept])), 0.0)
            for c, at_one in (
                (series.nngp, series.nngp_at_one),
                (series.ntk, series.ntk_at_one),
            )
        ]
        params = TaylorParams(
            jnp.asarray(np.sqrt(series.nngp[kept])),
            jnp.asarray(np.sqrt(series.ntk[kept])),
            jnp.asarray(tails[0]),
            jnp.asarray(tails[1]),
            sketch,
            series,
        )
        width = sum(symmetric_power_dim(d, p) for p in range(exact_degree + 1))
        if sketch_degrees:
            dims = polysketch_dims(d, sketch_dim, degree)
            width += sum(dims[p - 1] for p in sketch_degrees)
        lead = shapes.nngp[:-1]
        return FeatureShapes(lead + (width,), lead + (width,)), params

    return FeatureLayer(init_fn, feature_fn)
