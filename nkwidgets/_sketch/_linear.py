r"""Exact feature maps of affine layers and normalisation, and ``serial``.

A dense layer in the NTK parameterization maps kernels to
:math:`K' = \sigma_w^2 K + \sigma_b^2` and
:math:`\Theta' = \sigma_w^2 \Theta + K'` (Jacot et al. 2018; Lee et al. 2019);
in features that is a concatenation, no sketch:
:math:`f' = [\sigma_w f, \sigma_b]`, :math:`g' = [\sigma_w g, f']`.

References:
  Han et al., `Fast Neural Kernel Embeddings for General Activations
  <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022, §4.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import LayerError
from ._features import (
    FeatureLayer,
    Features,
    FeatureShapes,
    as_features,
    as_shapes,
    squared_norms,
)


def check_std(name: str, arg: str, value: Any, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise LayerError(
            name, f"`{arg}={value!r}` must be a non-negative number.", None
        )
    return float(value)


def affine_features(
    f: jax.Array, g: jax.Array, w_std: float, b_std: float | None
) -> Features:
    """``[w f, b]`` and ``[w g, f']``: features of ``w^2 K + b^2`` and ``w^2 Theta + K'``."""
    parts = [w_std * f]
    if b_std is not None:
        parts.append(jnp.full(f.shape[:-1] + (1,), b_std, f.dtype))
    nngp = jnp.concatenate(parts, axis=-1)
    return Features(nngp, jnp.concatenate([w_std * g.astype(f.dtype), nngp], axis=-1))


def DenseFeatures(W_std: float = 1.0, b_std: float | None = None) -> FeatureLayer:
    r"""Features of ``stax.Dense(out_dim, W_std, b_std)`` (NTK parameterization).

    Exact (no randomness, ``params`` empty): the NNGP feature grows by one
    column when ``b_std`` is set, the NTK feature by the new NNGP feature's width.
    The output width of ``stax.Dense`` does not enter the kernels and has no
    counterpart here.

    References:
      Jacot, Gabriel, Hongler, `Neural Tangent Kernel
      <https://arxiv.org/abs/1806.07572>`_, NeurIPS 2018.
    """
    w_std = check_std("DenseFeatures", "W_std", W_std, optional=False)
    b_std = check_std("DenseFeatures", "b_std", b_std, optional=True)
    extra = 0 if b_std is None else 1

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        del key
        s = as_shapes("DenseFeatures", input_shape)
        d_nngp = s.nngp[-1] + extra
        return FeatureShapes(
            s.nngp[:-1] + (d_nngp,), s.ntk[:-1] + (s.ntk[-1] + d_nngp,)
        ), ()

    def feature_fn(x: Any, params: Any = (), **kwargs: Any) -> Features:
        del params, kwargs
        f, g = as_features(x)
        return affine_features(f, g, w_std, b_std)

    return FeatureLayer(init_fn, feature_fn)


def LayerNormFeatures(eps: float = 0.0) -> FeatureLayer:
    r"""Features of ``stax.LayerNorm()`` (channel axis), at infinite width.

    Channel-wise normalisation divides each example's (and position's)
    pre-activations by their second moment :math:`q = K(x, x)`, so both kernels
    scale by :math:`1 / \sqrt{(q_x + \epsilon)(q_y + \epsilon)}`: the features by
    :math:`1/\sqrt{q + \epsilon}`, :math:`q` read from the NNGP feature. The
    channel mean is not subtracted: after a ``Dense`` or ``Conv`` it is zero at
    infinite width (as in Neural Tangents' ``LayerNorm`` kernel), so put this
    layer after an affine one.
    """
    eps = check_std("LayerNormFeatures", "eps", eps, optional=False)

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        del key
        return as_shapes("LayerNormFeatures", input_shape), ()

    def feature_fn(x: Any, params: Any = (), **kwargs: Any) -> Features:
        del params, kwargs
        f, g = as_features(x)
        q = squared_norms(f) + eps
        inv = jnp.where(q > 0, 1.0 / jnp.sqrt(jnp.where(q > 0, q, 1.0)), 0.0)[..., None]
        return Features(f * inv, g * inv.astype(g.dtype))

    return FeatureLayer(init_fn, feature_fn)


def serial(*layers: FeatureLayer) -> FeatureLayer:
    """Compose feature layers, as ``stax.serial``; each gets its own key."""
    for i, layer in enumerate(layers):
        if not isinstance(layer, FeatureLayer):
            raise LayerError(
                f"serial[{i}]",
                f"got {type(layer).__name__}, not a feature layer.",
                "use the layers of nkwidgets.sketch (DenseFeatures, ReluFeatures, ...), "
                "not those of nkwidgets.stax.",
            )

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        shapes = as_shapes("serial", input_shape)
        params = []
        for i, (layer, k) in enumerate(
            zip(layers, jax.random.split(key, max(len(layers), 1)), strict=False)
        ):
            try:
                shapes, p = layer.init_fn(k, shapes)
            except LayerError as e:
                raise e.inside(f"serial[{i}]") from None
            params.append(p)
        return shapes, tuple(params)

    def feature_fn(x: Any, params: Any, **kwargs: Any) -> Features:
        feats = as_features(x)
        for layer, p in zip(layers, params, strict=True):
            feats = layer.feature_fn(feats, p, **kwargs)
        return feats

    return FeatureLayer(init_fn, feature_fn)
