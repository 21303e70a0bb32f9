r"""A nonlinearity as a feature layer: ``ElementwiseFeatures`` and ``ReluFeatures``.

Given NNGP features :math:`f` (Gram :math:`K`) and NTK features :math:`g` (Gram
:math:`\Theta`), an activation maps the kernels to

.. math::
    K' = \mathbb E[\phi(u)\phi(v)], \qquad
    \Theta' = \Theta \odot \dot K, \quad \dot K = \mathbb E[\phi'(u)\phi'(v)],

:math:`(u, v)` centred Gaussian with covariance :math:`K`. The layer builds a
feature :math:`\psi` of :math:`\dot K` alongside the new NNGP feature and sketches
the tensor product :math:`g \otimes \psi` (TensorSRHT), whose inner products are
:math:`\Theta \odot \dot K`. Features of the duals, by ``method``:

* ``"ps"`` (PolySketch): the Hermite series of the dual (``_hermite``), the power
  :math:`\rho^i` of the correlation sketched by PolySketch of the unit feature
  :math:`\hat f = f / |f|`, weighted by :math:`a_i(q)` with :math:`q = |f|^2`;
  :math:`\psi` likewise with the derivative's coefficients. Truncating at
  ``degree`` biases by at most the reported tail. Best for smooth activations
  (Erf, GELU), whose coefficients decay fast.
* ``"rf"``: Gaussian random features :math:`\phi(W^\top f)`,
  :math:`\phi'(W^\top f)` (``_random_features``): unbiased for any activation,
  no truncation. The default for ReLU, whose derivative's series decays too
  slowly (:math:`b_i^2 \sim i^{-3/2}`) for a short expansion.
* ``"psrf"``: PolySketch for the NNGP feature, random features for
  :math:`\psi` (ReLU's own series decays as :math:`i^{-5/2}`, its step
  derivative's does not).
* ``"exact"``: no sketch. The dual is evaluated on the batch's whole Gram
  matrix (ReLU in closed form, other activations by their series truncated at
  ``degree``) and factored by an eigendecomposition, so the features reproduce
  the kernel of *this batch* to rounding, at ``O(n^3)``; features of separate
  calls do not share a basis. For checking sketches, not for large ``n``.

References:
  Han, Zandieh, Lee, Novak, Xiao, Karbasi, `Fast Neural Kernel Embeddings for
  General Activations <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022, §3–4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, Literal

import jax
import jax.numpy as jnp

from ..errors import LayerError
from ._features import (
    FeatureLayer,
    Features,
    FeatureShapes,
    as_features,
    as_shapes,
    check_positive_int,
    host_rng,
    squared_norms,
)
from ._hermite import DEFAULT_NODES, dual_series, hermite_coefficients
from ._polysketch import (
    polysketch,
    polysketch_dims,
    polysketch_init,
    tensor_dim,
    tensor_srht,
    tensor_srht_init,
)
from ._random_features import gaussian_init, random_features

Method = Literal["rf", "ps", "psrf", "exact"]
METHODS: Final = ("rf", "ps", "psrf", "exact")
DualFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def _relu_duals(gram: jax.Array, q1: jax.Array, q2: jax.Array):
    """Arc-cosine kernels of order 1 and 0 (Cho & Saul 2009): ReLU's exact duals."""
    norm = jnp.sqrt(q1 * q2)
    rho = jnp.clip(gram / jnp.where(norm > 0, norm, 1.0), -1.0, 1.0)
    theta = jnp.arccos(rho)
    nngp = norm * (jnp.sqrt(1.0 - rho * rho) + (jnp.pi - theta) * rho) / (2 * jnp.pi)
    return nngp, (jnp.pi - theta) / (2 * jnp.pi)


def _psd_features(gram: jax.Array) -> jax.Array:
    """``V sqrt(max(lam, 0))``: features whose Gram is ``gram`` (PSD part)."""
    evals, evecs = jnp.linalg.eigh((gram + gram.T) / 2)
    return evecs * jnp.sqrt(jnp.maximum(evals, 0.0))


def dual_layer(
    name: str,
    fn: Callable[[jax.Array], jax.Array],
    method: str,
    degree: int,
    feature_dim: int,
    sketch_dim: int | None,
    nodes: int,
    exact_duals: DualFn | None = None,
) -> FeatureLayer:
    """The feature layer of one activation; see the module docstring."""
    if method not in METHODS:
        raise LayerError(
            name,
            f"`method={method!r}` is not one of {METHODS}.",
            "use 'rf' (random features), 'ps' (PolySketch of the Hermite "
            "series), 'psrf' (both) or 'exact' (no sketch, small batches).",
        )
    if not callable(fn):
        raise LayerError(
            name, f"`fn={fn!r}` is not callable.", "pass e.g. jax.nn.gelu."
        )
    feature_dim = check_positive_int(name, "feature_dim", feature_dim)
    sketch_dim = check_positive_int(
        name, "sketch_dim", feature_dim if sketch_dim is None else sketch_dim
    )
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise LayerError(
            name,
            f"`degree={degree!r}` must be an integer >= 1.",
            "a degree of 0 keeps only the constant term of the dual.",
        )
    poly = method in ("ps", "psrf")
    gauss = method in ("rf", "psrf")
    # Each power of the correlation gets an equal share of the NNGP width.
    poly_dim = max(1, feature_dim // degree)

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        shapes = as_shapes(name, input_shape)
        d, d_ntk = shapes.nngp[-1], shapes.ntk[-1]
        lead = shapes.nngp[:-1]
        if method == "exact":
            rows = math.prod(lead)
            if rows <= 0:
                raise LayerError(
                    name,
                    f"method='exact' needs the batch size, but the input shape is {shapes.nngp}.",
                    "pass the full input shape (n, ...) to init_fn.",
                )
            return FeatureShapes(lead + (rows,), lead + (rows if d_ntk else 0,)), {}
        rng = host_rng(name, key)
        params: dict[str, Any] = {}
        if poly:
            params["poly"] = polysketch_init(rng, d, poly_dim, degree)
            nngp_dim = 1 + sum(polysketch_dims(d, poly_dim, degree))
        if gauss:
            params["w"] = gaussian_init(rng, d, feature_dim)
        if method == "rf":
            nngp_dim = feature_dim
        psi_dim = nngp_dim if method == "ps" else feature_dim
        ntk_dim = 0
        if d_ntk:
            params["tensor"] = tensor_srht_init(rng, d_ntk, psi_dim, sketch_dim)
            ntk_dim = tensor_dim(d_ntk, psi_dim, sketch_dim)
        return FeatureShapes(lead + (nngp_dim,), lead + (ntk_dim,)), params

    def sketched(f: jax.Array, params: Any) -> tuple[jax.Array, jax.Array]:
        """NNGP feature and the derivative-dual feature psi."""
        if method == "rf":
            return random_features(fn, params["w"], f)
        q = squared_norms(f)
        q = jnp.maximum(q, jnp.finfo(f.dtype).tiny)
        unit = f / jnp.sqrt(q)[..., None]
        a = hermite_coefficients(fn, degree + 1, q, nodes=nodes).coefficients
        powers = polysketch(params["poly"], unit)
        nngp = jnp.concatenate(
            [a[..., :1]]
            + [a[..., p : p + 1] * powers[p - 1] for p in range(1, degree + 1)],
            axis=-1,
        )
        if method == "psrf":
            return nngp, random_features(fn, params["w"], f)[1]
        # Stein's identity: coefficients of phi'(sqrt(q) z) from those of phi.
        root = jnp.sqrt(jnp.arange(1, degree + 2, dtype=f.dtype))
        b = a[..., 1:] * root / jnp.sqrt(q)[..., None]
        psi = jnp.concatenate(
            [b[..., :1]]
            + [b[..., p : p + 1] * powers[p - 1] for p in range(1, degree + 1)],
            axis=-1,
        )
        return nngp, psi

    def exact(f: jax.Array, g: jax.Array) -> Features:
        lead = f.shape[:-1]
        rows = math.prod(lead)
        f2, g2 = f.reshape(rows, -1), g.reshape(rows, -1)
        gram = f2 @ f2.T
        q = jnp.diag(gram)
        if exact_duals is not None:
            nngp, dot = exact_duals(gram, q[:, None], q[None, :])
        else:
            qs = jnp.maximum(q, jnp.finfo(f.dtype).tiny)
            a = hermite_coefficients(fn, degree + 1, qs, nodes=nodes).coefficients
            root = jnp.sqrt(jnp.arange(1, degree + 2, dtype=f.dtype))
            b = a[..., 1:] * root / jnp.sqrt(qs)[..., None]
            rho = jnp.clip(gram / jnp.sqrt(qs[:, None] * qs[None, :]), -1.0, 1.0)
            nngp = dual_series(a[:, None, : degree + 1], a[None, :, : degree + 1], rho)
            dot = dual_series(b[:, None], b[None, :], rho)
        nngp_feat = _psd_features(nngp).reshape(lead + (rows,))
        if g.shape[-1] == 0:
            return Features(nngp_feat, jnp.zeros(lead + (0,), f.dtype))
        ntk_feat = _psd_features((g2 @ g2.T) * dot).reshape(lead + (rows,))
        return Features(nngp_feat, ntk_feat)

    def feature_fn(x: Any, params: Any, **kwargs: Any) -> Features:
        del kwargs
        f, g = as_features(x)
        if method == "exact":
            return exact(f, g)
        nngp, psi = sketched(f, params)
        if g.shape[-1] == 0:
            return Features(nngp, jnp.zeros(nngp.shape[:-1] + (0,), nngp.dtype))
        return Features(nngp, tensor_srht(params["tensor"], g, psi))

    return FeatureLayer(init_fn, feature_fn)


def ElementwiseFeatures(
    fn: Callable[[jax.Array], jax.Array],
    degree: int = 8,
    feature_dim: int = 1024,
    sketch_dim: int | None = None,
    method: Method = "ps",
    *,
    nodes: int = DEFAULT_NODES,
) -> FeatureLayer:
    r"""Features of any elementwise activation, by its Hermite expansion.

    The twin of ``stax.ElementwiseNumerical(fn, ...)``: the dual
    :math:`\sum_i a_i(q_1) a_i(q_2) \rho^i` is truncated after ``degree`` and
    its powers sketched (``method="ps"``), or the duals are sampled by random
    features (``"rf"``, unbiased, ``degree`` unused), or both (``"psrf"``).
    :func:`~nkwidgets.sketch.hermite_coefficients` reports the truncation
    error :math:`\sum_{i > \mathrm{degree}} a_i^2` of a choice of ``degree``.

    Args:
      fn: elementwise jax activation (differentiable almost everywhere: the
        NTK feature uses ``fn'`` by forward-mode autodiff).
      degree: truncation degree of the Hermite series.
      feature_dim: width of the NNGP feature (``"ps"``: split evenly between
        the ``degree`` sketched powers, plus one constant column).
      sketch_dim: width of the NTK feature (default ``feature_dim``).
      method: ``"ps"``, ``"rf"``, ``"psrf"`` or ``"exact"`` (see
        :mod:`nkwidgets._sketch._dual`).
      nodes: Gauss nodes per half-line for the Hermite coefficients.

    Returns:
      ``FeatureLayer(init_fn, feature_fn)``.

    References:
      Han et al., `Fast Neural Kernel Embeddings for General Activations
      <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022.
    """
    return dual_layer(
        "ElementwiseFeatures", fn, method, degree, feature_dim, sketch_dim, nodes
    )


def ReluFeatures(
    feature_dim: int = 1024,
    sketch_dim: int | None = None,
    method: Method = "rf",
    degree: int = 8,
    *,
    nodes: int = DEFAULT_NODES,
) -> FeatureLayer:
    r"""Features of ``stax.Relu()``: arc-cosine random features by default.

    ``method="rf"`` draws :math:`\mathrm{relu}(W^\top f)/\sqrt m` and
    :math:`\mathrm{step}(W^\top f)/\sqrt m`, unbiased for the arc-cosine
    kernels of order 1 and 0; ``"ps"`` / ``"psrf"`` sketch ReLU's Hermite series
    to ``degree``; ``"exact"`` factors the closed form on the batch.

    References:
      Cho, Saul, `Kernel Methods for Deep Learning
      <https://papers.nips.cc/paper/3628-kernel-methods-for-deep-learning>`_,
      NeurIPS 2009; Han et al., `Fast Neural Kernel Embeddings for General
      Activations <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022.
    """
    return dual_layer(
        "ReluFeatures",
        jax.nn.relu,
        method,
        degree,
        feature_dim,
        sketch_dim,
        nodes,
        exact_duals=_relu_duals,
    )
