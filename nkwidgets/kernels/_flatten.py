r"""Flatten: merge every non-batch axis into one channel axis."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import LayerError
from . import _spatial
from ._elementwise import full_spatial
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer
from ._masking import FLATTEN


def _mean_over_positions(x: jax.Array | None, batch_ndim: int) -> jax.Array | None:
    if x is None or x.ndim <= batch_ndim:
        return x
    return jnp.mean(x, axis=tuple(range(batch_ndim, x.ndim)))


def _diagonal_or_scalar(x: jax.Array) -> jax.Array:
    # The input kernel's NTK is a scalar zero until a layer with parameters.
    return x if jnp.ndim(x) == 0 else _spatial.diagonal(x, 2)


def Flatten(batch_axis: int = 0, batch_axis_out: int = 0) -> Layer:
    r"""Flatten all non-batch axes, as Neural Tangents' ``Flatten``.

    A Dense layer after flattening takes inner products over positions and
    channels together, which are the channel inner products averaged over
    positions. With the same-position kernel the engine keeps for inputs with
    spatial axes (shape ``(N1, N2, *S)``):

    .. math::
        K_{ij} = \frac1{|S|} \sum_{s \in S} K_{ij s},
        \qquad \Theta_{ij} = \frac1{|S|} \sum_{s \in S} \Theta_{ij s} .

    The result is not Gaussian (as in Neural Tangents), so a Dense must follow
    before any nonlinearity.

    Args:
      batch_axis: batch axis of the inputs.
      batch_axis_out: batch axis of the output, 0 (``(N, features)``) or 1
        (``(features, N)``); -2 and -1 are accepted as their aliases.
    """
    name = "Flatten"
    if batch_axis_out in (0, -2):
        batch_out, channel_out = 0, 1
    elif batch_axis_out in (1, -1):
        batch_out, channel_out = 1, 0
    else:
        raise LayerError(
            name,
            f"`batch_axis_out={batch_axis_out!r}` must be 0 or 1: the output is "
            "two-dimensional.",
            "use batch_axis_out=0 for (batch, features).",
        )
    if isinstance(batch_axis, bool) or not isinstance(batch_axis, int):
        raise LayerError(
            name, f"`batch_axis={batch_axis!r}` must be an integer.", "e.g. 0."
        )

    def shape_fn(input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape:
            return input_shape
        axis = batch_axis % len(input_shape)
        rest = input_shape[:axis] + input_shape[axis + 1 :]
        size = math.prod(rest)
        return (
            (input_shape[axis], size) if batch_out == 0 else (size, input_shape[axis])
        )

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return shape_fn(tuple(input_shape)), ()

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params, kwargs
        batch_first = jnp.moveaxis(inputs, batch_axis, 0)
        flat = batch_first.reshape(batch_first.shape[0], -1)
        return flat if batch_out == 0 else flat.T

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        batch_ndim = 1 if k.diagonal_batch else 2
        if full_spatial(k):
            # The flattened inner product pairs each position with itself only.
            k = k.replace(
                nngp=_spatial.diagonal(k.nngp, 2),
                ntk=None if k.ntk is None else _diagonal_or_scalar(k.ntk),
                cov1=_spatial.diagonal(k.cov1, batch_ndim),
                cov2=None if k.cov2 is None else _spatial.diagonal(k.cov2, batch_ndim),
            )
        return k.replace(
            nngp=_mean_over_positions(k.nngp, 2),
            ntk=_mean_over_positions(k.ntk, 2),
            cov1=_mean_over_positions(k.cov1, batch_ndim),
            cov2=_mean_over_positions(k.cov2, batch_ndim),
            is_gaussian=False,
            is_reversed=False,
            diagonal_spatial=False,
            batch_axis=batch_out,
            channel_axis=channel_out,
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        # Any non-batch axis may act as the channel: the mean over positions of
        # per-position channel inner products is the flattened inner product.
        requirements=Requirements(
            spatial="diagonal", batch_axis=batch_axis, channel_axis=None
        ),
        masking=FLATTEN,
    )
