r"""Feature maps of convolution, pooling and flattening (NHWC-like inputs).

Features keep one vector per position, so their inner products give the kernel
between any two positions (``stax``'s full layout). Every map is exact:

* convolution (NTK parameterization, filter of :math:`F` positions):
  :math:`K'_{p p'} = \frac{\sigma_w^2}{F} \sum_o K_{p+o,\, p'+o} + \sigma_b^2`,
  the concatenated patch :math:`[f_{p+o}]_o` scaled by :math:`\sigma_w/\sqrt F`
  (zeros outside ``SAME`` padding, wrapped for ``CIRCULAR``), widening the
  feature :math:`F`-fold; an optional SRHT (``feature_dim``) narrows it again;
* average pooling: the average of the window's features;
* flattening: :math:`K' = \frac1P \sum_p K_{pp}` (same-position terms only), the
  concatenation of all positions scaled by :math:`1/\sqrt P`.

References:
  Han et al., `Fast Neural Kernel Embeddings for General Activations
  <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022, §4.2 (convolutional
  feature maps); Arora et al., `On Exact Computation with an Infinitely Wide
  Neural Net <https://arxiv.org/abs/1904.11955>`_, NeurIPS 2019 (CNTK).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..errors import LayerError
from ._features import (
    FeatureLayer,
    Features,
    FeatureShapes,
    as_features,
    as_shapes,
    check_positive_int,
    host_rng,
)
from ._linear import affine_features, check_std
from ._polysketch import srht, srht_init

PADDINGS = ("VALID", "SAME", "CIRCULAR")


def _spatial(name: str, shapes: FeatureShapes, n_window: int) -> tuple[int, ...]:
    spatial = shapes.nngp[1:-1]
    if len(spatial) != n_window:
        raise LayerError(
            name,
            f"a window of {n_window} spatial dims does not fit features of shape "
            f"{shapes.nngp} ({len(spatial)} spatial dims).",
            "give one window size per spatial axis of NHWC-like inputs.",
        )
    return spatial


def _window_args(name, window_shape, strides, padding, paddings):
    try:
        window = tuple(int(w) for w in window_shape)
    except TypeError:
        raise LayerError(
            name, f"`window_shape={window_shape!r}` is not a sequence of ints.", None
        ) from None
    if not window or min(window) < 1:
        raise LayerError(name, f"`{window_shape!r}` needs positive sizes.", None)
    strides = (1,) * len(window) if strides is None else tuple(int(s) for s in strides)
    if len(strides) != len(window) or min(strides) < 1:
        raise LayerError(
            name,
            f"`strides={strides!r}` needs {len(window)} positive entries.",
            None,
        )
    if padding not in paddings:
        raise LayerError(name, f"`padding={padding!r}` is not one of {paddings}.", None)
    return window, strides


def _pads(spatial, window, strides, padding):
    mode = "SAME" if padding == "CIRCULAR" else padding
    return lax.padtype_to_pads(spatial, window, strides, mode)


def _out_spatial(spatial, window, strides, padding):
    pads = _pads(spatial, window, strides, padding)
    return tuple(
        (s + lo + hi - w) // st + 1
        for s, w, st, (lo, hi) in zip(spatial, window, strides, pads, strict=True)
    )


def _patches(x: jax.Array, window, strides, padding) -> jax.Array:
    """``(n, *S, C) -> (n, *S', C * F)``: each output position's receptive field."""
    nd = len(window)
    pads = _pads(x.shape[1:-1], window, strides, padding)
    if padding == "CIRCULAR":
        x = jnp.pad(x, [(0, 0)] + list(pads) + [(0, 0)], mode="wrap")
        pads = [(0, 0)] * nd
    # Channels first for lax's default dimension numbers; patch order is
    # (channel, filter offset), the same for every input, which is all the
    # inner products need.
    moved = jnp.moveaxis(x, -1, 1)
    out = lax.conv_general_dilated_patches(moved, window, strides, pads)
    return jnp.moveaxis(out, 1, -1)


def ConvFeatures(
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    W_std: float = 1.0,
    b_std: float | None = None,
    feature_dim: int | None = None,
) -> FeatureLayer:
    r"""Features of ``stax.Conv(C, filter_shape, strides, padding, W_std, b_std)``.

    NHWC-like inputs (channels last), NTK parameterization, paddings ``VALID``,
    ``SAME`` and ``CIRCULAR``. The patch concatenation is exact and widens the
    features by the filter size; ``feature_dim`` (default ``None``: keep them
    exact) SRHT-sketches both outputs down to that width when they are wider,
    unbiased for every inner product.
    """
    name = "ConvFeatures"
    window, strides = _window_args(name, filter_shape, strides, padding, PADDINGS)
    w_std = check_std(name, "W_std", W_std, optional=False)
    b_std = check_std(name, "b_std", b_std, optional=True)
    if feature_dim is not None:
        feature_dim = check_positive_int(name, "feature_dim", feature_dim)
    size = math.prod(window)
    scale = w_std / math.sqrt(size)

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        s = as_shapes(name, input_shape)
        spatial = _spatial(name, s, len(window))
        out = (s.nngp[0],) + _out_spatial(spatial, window, strides, padding)
        d_nngp = s.nngp[-1] * size + (b_std is not None)
        d_ntk = s.ntk[-1] * size + d_nngp
        params: dict[str, Any] = {}
        rng = host_rng(name, key)
        if feature_dim is not None and d_nngp > feature_dim:
            params["nngp"] = srht_init(rng, d_nngp, feature_dim)
            d_nngp_out = feature_dim
        else:
            d_nngp_out = d_nngp
        if feature_dim is not None and d_ntk > feature_dim:
            params["ntk"] = srht_init(rng, d_ntk, feature_dim)
            d_ntk = feature_dim
        return FeatureShapes(out + (d_nngp_out,), out + (d_ntk,)), params

    def feature_fn(x: Any, params: Any, **kwargs: Any) -> Features:
        del kwargs
        f, g = as_features(x)
        fp = _patches(f, window, strides, padding)
        gp = _patches(g, window, strides, padding) if g.shape[-1] else g[..., :0]
        if gp.shape[:-1] != fp.shape[:-1]:
            gp = jnp.zeros(fp.shape[:-1] + (0,), f.dtype)
        nngp, ntk = affine_features(fp, gp, scale, b_std)
        if "nngp" in params:
            nngp = srht(params["nngp"], nngp)
        if "ntk" in params:
            ntk = srht(params["ntk"], ntk)
        return Features(nngp, ntk)

    return FeatureLayer(init_fn, feature_fn)


def AvgPoolFeatures(
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
) -> FeatureLayer:
    """Features of ``stax.AvgPool(window_shape, strides, padding)``.

    Windows are divided by their full size (``normalize_edges=False``, the
    ``stax`` default); ``strides=None`` is stride 1, as in ``stax``.
    """
    name = "AvgPoolFeatures"
    window, strides = _window_args(
        name, window_shape, strides, padding, ("VALID", "SAME")
    )
    size = math.prod(window)

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        del key
        s = as_shapes(name, input_shape)
        spatial = _spatial(name, s, len(window))
        out = (s.nngp[0],) + _out_spatial(spatial, window, strides, padding)
        return FeatureShapes(out + s.nngp[-1:], out + s.ntk[-1:]), ()

    def pool(x: jax.Array) -> jax.Array:
        dims = (1, *window, 1)
        steps = (1, *strides, 1)
        return lax.reduce_window(x, 0.0, lax.add, dims, steps, padding) / size

    def feature_fn(x: Any, params: Any = (), **kwargs: Any) -> Features:
        del params, kwargs
        f, g = as_features(x)
        return Features(pool(f), pool(g))

    return FeatureLayer(init_fn, feature_fn)


def GlobalAvgPoolFeatures() -> FeatureLayer:
    """Features of ``stax.GlobalAvgPool()``: the mean feature over positions."""

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        del key
        s = as_shapes("GlobalAvgPoolFeatures", input_shape)
        return FeatureShapes(s.nngp[:1] + s.nngp[-1:], s.ntk[:1] + s.ntk[-1:]), ()

    def feature_fn(x: Any, params: Any = (), **kwargs: Any) -> Features:
        del params, kwargs
        f, g = as_features(x)
        axes = tuple(range(1, f.ndim - 1))
        return Features(jnp.mean(f, axis=axes), jnp.mean(g, axis=axes))

    return FeatureLayer(init_fn, feature_fn)


def FlattenFeatures() -> FeatureLayer:
    """Features of ``stax.Flatten()``: all positions side by side over ``sqrt(P)``."""

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[FeatureShapes, Any]:
        del key
        s = as_shapes("FlattenFeatures", input_shape)
        return FeatureShapes(
            (s.nngp[0], math.prod(s.nngp[1:])), (s.ntk[0], math.prod(s.ntk[1:]))
        ), ()

    def feature_fn(x: Any, params: Any = (), **kwargs: Any) -> Features:
        del params, kwargs
        f, g = as_features(x)
        positions = math.prod(f.shape[1:-1])
        scale = 1.0 / math.sqrt(positions)
        return Features(
            f.reshape(f.shape[0], -1) * scale, g.reshape(g.shape[0], -1) * scale
        )

    return FeatureLayer(init_fn, feature_fn)
