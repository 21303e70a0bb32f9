r"""Pooling: ``AvgPool``, ``SumPool``, ``GlobalAvgPool``, ``GlobalSumPool`` and ``MaxPool``.

Sum pooling is linear, so covariances of pooled outputs sum the input
covariances over *both* windows independently,

.. math:: K'(a, b) = \sum_{f \in F} \sum_{g \in F} K(a s + f,\; b s + g),

which needs covariances between different positions: pooling layers ask for
the full spatial layout, and so does every layer before them. Average pooling
divides by the window size (or, with ``normalize_edges``, by the number of real
positions under each window); global pooling sums or averages over the whole
image.

Max pooling is not linear and has no closed-form kernel: ``MaxPool`` runs in
finite networks and its kernel is estimated by Monte Carlo
(:func:`nkwidgets.monte_carlo_kernel_fn`), with standard errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import LayerError
from . import _spatial
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer
from ._masking import MaskRule, global_pool_rule, window_rule


def _spatial_axes(ndim: int, batch_axis: int, channel_axis: int) -> list[int]:
    skip = {batch_axis % ndim, channel_axis % ndim}
    return [a for a in range(ndim) if a not in skip]


def _window_shapes(
    name: str,
    window: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
    batch_axis: int,
    channel_axis: int,
) -> tuple[Any, Any]:
    """``shape_fn`` and the parameter-free ``init_fn`` of a windowed layer."""

    def shape_fn(shape: tuple[int, ...]) -> tuple[int, ...]:
        if not shape:
            return shape
        _spatial.check_rank(name, shape, len(window), "window")
        out = list(shape)
        for i, a in enumerate(_spatial_axes(len(shape), batch_axis, channel_axis)):
            out[a] = _spatial.out_size(shape[a], window[i], strides[i], padding)
        return tuple(out)

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return shape_fn(tuple(input_shape)), ()

    return shape_fn, init_fn


def _require_full(name: str, k: Kernel) -> None:
    if k.n_spatial > 0 and k.diagonal_spatial:
        raise LayerError(
            name,
            "received a kernel with only same-position covariances, but pooling "
            "mixes positions and needs all of them.",
            "call the network's kernel_fn on raw inputs (it then keeps the full "
            "spatial covariance), or pass a Kernel built with diagonal_spatial=False.",
        )


def _pool_layer(
    name: str,
    window_shape: Sequence[int],
    strides: Sequence[int] | None,
    padding: str,
    batch_axis: int,
    channel_axis: int,
    *,
    average: bool,
    normalize_edges: bool,
) -> Layer:
    window, strides, padding = _spatial.check_window(
        name, window_shape, strides, padding, "window_shape"
    )
    n = len(window)
    shape_fn, init_fn = _window_shapes(
        name, window, strides, padding, batch_axis, channel_axis
    )

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params, kwargs
        x = inputs
        axes = _spatial_axes(x.ndim, batch_axis, channel_axis)
        for i, a in enumerate(axes):
            x = _spatial.window_sum(x, (a,), window[i], strides[i], padding)
            if average:
                x = x / _divisor(inputs.shape[a], i, a, x.ndim)
        return x

    def _divisor(size: int, i: int, axis: int, ndim: int) -> Any:
        if normalize_edges and padding == "SAME":
            counts = _spatial.window_counts(size, window[i], strides[i], padding)
            return counts.reshape((-1,) + (1,) * (ndim - axis - 1))
        return window[i]

    def pool(x: jax.Array, batch_ndim: int) -> jax.Array:
        for dim in range(n):
            size = x.shape[_spatial.pair_axes(batch_ndim, dim)[0]]
            for a in _spatial.pair_axes(batch_ndim, dim):
                x = _spatial.window_sum(x, (a,), window[dim], strides[dim], padding)
                if average:
                    x = x / _divisor(size, dim, a, x.ndim)
        return x

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        _spatial.check_rank(name, k.shape1, n, "window")
        _require_full(name, k)
        return k.replace(**_spatial.map_covariances(k, pool))

    return make_layer(
        f"{name}({window})",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        requirements=Requirements(
            spatial="full", batch_axis=batch_axis, channel_axis=channel_axis
        ),
        masking=(
            _refuse_circular_masks(name)
            if padding == "CIRCULAR"
            else window_rule(window, strides, padding)
        ),
    )


def _refuse_circular_masks(name: str) -> MaskRule:
    def propagate(mask: jax.Array) -> jax.Array:
        raise LayerError(
            name,
            "with padding='CIRCULAR' would wrap the padded end of each sequence "
            "onto its start; Neural Tangents 0.6.5 has no rule for masks here either.",
            "use padding='SAME' or 'VALID' when inputs carry mask_constant.",
        )

    return MaskRule(propagate=propagate)


def AvgPool(
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    normalize_edges: bool = False,
    batch_axis: int = 0,
    channel_axis: int = -1,
) -> Layer:
    """Average pooling, as Neural Tangents' ``AvgPool``.

    ``strides=None`` means stride 1. ``normalize_edges=True`` divides each
    window by its number of real (non-padding) positions, which only differs
    from the window size at the edges of ``SAME`` padding. Positions masked by
    ``mask_constant`` count in the divisor as the zeros they are (Neural
    Tangents' rule), so padding a sequence further leaves its kernel unchanged
    only without ``normalize_edges``.
    """
    return _pool_layer(
        "AvgPool",
        window_shape,
        strides,
        padding,
        batch_axis,
        channel_axis,
        average=True,
        normalize_edges=normalize_edges,
    )


def SumPool(
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    batch_axis: int = 0,
    channel_axis: int = -1,
) -> Layer:
    """Sum pooling, as Neural Tangents' ``SumPool``."""
    return _pool_layer(
        "SumPool",
        window_shape,
        strides,
        padding,
        batch_axis,
        channel_axis,
        average=False,
        normalize_edges=False,
    )


def _global_pool(name: str, batch_axis: int, channel_axis: int, average: bool) -> Layer:
    def shape_fn(shape: tuple[int, ...]) -> tuple[int, ...]:
        if not shape:
            return shape
        ndim = len(shape)
        b, c = batch_axis % ndim, channel_axis % ndim
        return (shape[b], shape[c]) if b < c else (shape[c], shape[b])

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return shape_fn(tuple(input_shape)), ()

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params, kwargs
        axes = tuple(_spatial_axes(inputs.ndim, batch_axis, channel_axis))
        return (jnp.mean if average else jnp.sum)(inputs, axis=axes)

    def reduce(x: jax.Array, batch_ndim: int) -> jax.Array:
        axes = tuple(range(batch_ndim, x.ndim))
        return (jnp.mean if average else jnp.sum)(x, axis=axes)

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        _require_full(name, k)
        ndim = len(k.shape1)
        batch_first = ndim == 0 or batch_axis % ndim < channel_axis % ndim
        return k.replace(
            **_spatial.map_covariances(k, reduce),
            diagonal_spatial=False,
            is_reversed=False,
            batch_axis=0 if batch_first else 1,
            channel_axis=1 if batch_first else 0,
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        requirements=Requirements(
            spatial="full", batch_axis=batch_axis, channel_axis=channel_axis
        ),
        masking=global_pool_rule(average),
    )


def GlobalAvgPool(batch_axis: int = 0, channel_axis: int = -1) -> Layer:
    """Average over every spatial position: ``(N, *S, C) -> (N, C)``.

    Its kernel is the mean of the full spatial covariance over all position
    pairs, which is why it sees what a locally connected network cannot.
    """
    return _global_pool("GlobalAvgPool", batch_axis, channel_axis, average=True)


def GlobalSumPool(batch_axis: int = 0, channel_axis: int = -1) -> Layer:
    """Sum over every spatial position: ``(N, *S, C) -> (N, C)``."""
    return _global_pool("GlobalSumPool", batch_axis, channel_axis, average=False)


def MaxPool(
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    batch_axis: int = 0,
    channel_axis: int = -1,
) -> Layer:
    """Max pooling for finite networks; its kernel is a Monte Carlo *estimate*.

    The maximum of correlated Gaussians has no closed-form covariance, so
    ``kernel_fn`` raises and names the estimator: build the network at a
    large width and call :func:`nkwidgets.monte_carlo_kernel_fn`, whose
    ``estimate`` returns the mean with its standard error (the first layer's
    pre-activations are exactly Gaussian, so with MaxPool right after it and
    a linear readout the estimate is unbiased at any width). ``padding='SAME'`` pads with ``-inf``
    as ``lax.reduce_window`` does, so padding never wins the maximum.
    """
    name = "MaxPool"
    window, strides, padding = _spatial.check_window(
        name, window_shape, strides, padding, "window_shape"
    )
    shape_fn, init_fn = _window_shapes(
        name, window, strides, padding, batch_axis, channel_axis
    )

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params, kwargs
        axes = _spatial_axes(inputs.ndim, batch_axis, channel_axis)
        x = inputs
        if padding == "CIRCULAR":
            widths = [(0, 0)] * x.ndim
            for i, a in enumerate(axes):
                widths[a] = _spatial.pads_for(x.shape[a], window[i], strides[i], "SAME")
            x = jnp.pad(x, widths, mode="wrap")
        dims = [1] * x.ndim
        steps = [1] * x.ndim
        for i, a in enumerate(axes):
            dims[a], steps[a] = window[i], strides[i]
        return jax.lax.reduce_window(
            x,
            -jnp.inf,
            jax.lax.max,
            tuple(dims),
            tuple(steps),
            "VALID" if padding == "CIRCULAR" else padding,
        )

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        raise LayerError(
            name,
            "has no closed-form infinite-width kernel: the maximum of correlated "
            "Gaussians is not Gaussian and its covariance has no formula.",
            "estimate it from finite networks: build the network wide (e.g. "
            "Conv(512, ...)) and call nkwidgets.monte_carlo_kernel_fn(init_fn, "
            "apply_fn, key, n_samples=...), which also returns standard errors; "
            "or use AvgPool, which has an exact kernel.",
        )

    return make_layer(
        f"{name}({window})",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        requirements=Requirements(
            spatial="full", batch_axis=batch_axis, channel_axis=channel_axis
        ),
    )
