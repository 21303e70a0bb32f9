"""The feature pair a sketch layer maps, and the layer type itself."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError, LayerError


class Features(NamedTuple):
    """Feature maps whose inner products approximate a network's kernels.

    ``nngp_feat[i, *p] @ nngp_feat[j, *p']`` approximates the NNGP kernel
    between example ``i`` at position ``p`` and example ``j`` at ``p'`` (the
    *full* spatial layout of ``nkwidgets.stax``); the same for ``ntk_feat``.
    Fully connected features have no position axes.
    """

    nngp_feat: jax.Array  # (n, *spatial, d_nngp)
    ntk_feat: jax.Array  # (n, *spatial, d_ntk)


class FeatureShapes(NamedTuple):
    """Shapes of a :class:`Features` pair, batch axis first (``-1`` if unknown)."""

    nngp: tuple[int, ...]
    ntk: tuple[int, ...]


class FeatureLayer(NamedTuple):
    """A sketch layer: ``init_fn(key, input_shape) -> (out_shapes, params)``.

    ``feature_fn(x, params) -> Features`` accepts raw inputs (``(n, d)`` or
    NHWC images) or the :class:`Features` of the layer before.
    """

    init_fn: Callable[[jax.Array, Any], tuple[FeatureShapes, Any]]
    feature_fn: Callable[..., Features]


def as_shapes(name: str, input_shape: Any) -> FeatureShapes:
    """Feature shapes of raw inputs of ``input_shape``, or the shapes given."""
    if isinstance(input_shape, FeatureShapes):
        return input_shape
    shape = tuple(int(s) for s in input_shape)
    if len(shape) < 2:
        raise LayerError(
            name,
            f"input shape {shape} has no batch and channel axes.",
            "pass (n, d) for vectors or (n, H, W, C) for images.",
        )
    return FeatureShapes(shape, shape[:-1] + (0,))


def as_features(x: Any) -> Features:
    """Raw inputs as features: the input kernel ``x . y / C`` per position pair.

    The NTK of the inputs is zero (nothing before them is trained), so their
    NTK feature has no columns.
    """
    if isinstance(x, Features):
        return x
    x = jnp.asarray(x)
    if x.ndim < 2:
        raise InputError(
            f"inputs of shape {x.shape} have no batch and channel axes; pass "
            "(n, d) vectors or (n, H, W, C) images."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    nngp = x / math.sqrt(x.shape[-1])
    return Features(nngp, jnp.zeros(x.shape[:-1] + (0,), x.dtype))


def squared_norms(feat: jax.Array) -> jax.Array:
    """Diagonal of the feature Gram per example and position: ``(n, *spatial)``."""
    return jnp.sum(feat * feat, axis=-1)


def check_positive_int(name: str, arg: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LayerError(name, f"`{arg}={value!r}` must be a positive integer.", None)
    return value


HOST_INIT: Final = (
    "`init_fn` draws its random projections on the host with NumPy (seeded "
    "from the key) and cannot run under jax.jit or jax.vmap."
)


def host_rng(name: str, key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key (raw ``uint32`` or typed).

    Sketch parameters are random projections drawn once; drawing them with
    NumPy costs milliseconds where a traced JAX init of a deep sketch takes
    seconds to compile. The same key gives the same parameters.
    """
    try:
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        bits = np.asarray(key).astype(np.uint64).ravel()
    except jax.errors.TracerArrayConversionError:
        raise LayerError(
            name, HOST_INIT, "call init_fn outside jit; jit feature_fn."
        ) from None
    return np.random.default_rng([int(b) for b in bits])
