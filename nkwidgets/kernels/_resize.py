r"""``ImageResize``: ``jax.image.resize`` as a layer, with its exact kernel.

Linear and nearest-neighbour resizing are linear maps :math:`y = R x` applied
along each spatial axis, so the covariance of resized images is
:math:`R K R^\top` along both axes of each position pair: resizing the full
spatial covariance with the same method along every axis of both positions.
Cubic and Lanczos resizing are linear too, but their kernels are not offered
(as in Neural Tangents); their ``apply_fn`` works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from ..errors import LayerError
from . import _spatial
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer

_KERNEL_METHODS = ("linear", "nearest")


def ImageResize(
    shape: Sequence[int],
    method: str | jax.image.ResizeMethod,
    antialias: bool = True,
    precision: Any = jax.lax.Precision.HIGHEST,
    batch_axis: int = 0,
    channel_axis: int = -1,
) -> Layer:
    """Resize images as ``jax.image.resize``; ``-1`` in ``shape`` keeps an axis.

    ``shape`` lists every axis of the inputs, batch and channel included; the
    kernel needs ``-1`` at the batch and channel axes. Kernels exist for
    ``method='linear'`` (also ``'bilinear'``, ``'trilinear'``, ``'triangle'``)
    and ``'nearest'``.
    """
    name = "ImageResize"
    shape = tuple(int(s) for s in shape)
    resize_method = (
        jax.image.ResizeMethod.from_string(method)
        if isinstance(method, str)
        else method
    )
    resizes_space = any(
        s != -1
        for i, s in enumerate(shape)
        if i not in (batch_axis % len(shape), channel_axis % len(shape))
    )

    def out_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
        if len(input_shape) != len(shape):
            raise LayerError(
                name,
                f"`shape={shape}` has {len(shape)} entries but the inputs have "
                f"{len(input_shape)} axes {tuple(input_shape)}.",
                "give one entry per input axis, -1 for axes to keep (batch, channels).",
            )
        return tuple(
            n if s == -1 else s for n, s in zip(input_shape, shape, strict=True)
        )

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return out_shape(tuple(input_shape)), ()

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params, kwargs
        return jax.image.resize(
            inputs,
            out_shape(inputs.shape),
            resize_method,
            antialias=antialias,
            precision=precision,
        )

    def resize(
        x: jax.Array, sizes: list[int], batch_ndim: int, full: bool
    ) -> jax.Array:
        target = list(x.shape[:batch_ndim])
        for size in sizes:
            target += [size, size] if full else [size]
        return jax.image.resize(
            x, tuple(target), resize_method, antialias=antialias, precision=precision
        )

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        if resize_method.name.lower() not in _KERNEL_METHODS:
            raise LayerError(
                name,
                f"has no kernel for method {resize_method.name.lower()!r}.",
                f"use one of {_KERNEL_METHODS} for kernels; cubic and lanczos "
                "work only in finite networks (apply_fn).",
            )
        ndim = len(k.shape1)
        b, c = batch_axis % ndim, channel_axis % ndim
        if shape[b] != -1 or shape[c] != -1:
            raise LayerError(
                name,
                f"`shape={shape}` resizes the batch or channel axis, which has no "
                "infinite-width kernel.",
                f"set shape[{batch_axis}] and shape[{channel_axis}] to -1.",
            )
        new = out_shape(k.shape1)
        sizes = [new[i] for i in range(ndim) if i not in (b, c)]
        full = not k.diagonal_spatial
        if resizes_space and not full:
            raise LayerError(
                name,
                "received only same-position covariances, but resizing mixes positions.",
                "call the network's kernel_fn on raw inputs, which keeps them all.",
            )
        return k.replace(
            **_spatial.map_covariances(k, lambda x, b: resize(x, sizes, b, full))
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=lambda s: out_shape(s) if s else s,
        requirements=Requirements(
            spatial="full" if resizes_space else "keep",
            batch_axis=batch_axis,
            channel_axis=channel_axis,
        ),
    )
