r"""Fan-in layers that join parallel branches by concatenation or product.

Like ``FanInSum`` (in ``_combinators.py``) they assume the branches are
independent given the input, which holds when every branch has its own random
layer (``Dense``) as in ``serial(FanOut(n), parallel(...), FanIn...())``.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import LayerError
from ._combinators import require_list, require_same_shapes
from ._kernel import Kernel
from ._layer import Layer, make_layer


def _require_same_layout(name: str, ks: list[Kernel]) -> None:
    first = ks[0]
    for i, k in enumerate(ks[1:], start=1):
        if (k.diagonal_batch, k.diagonal_spatial, k.batch_axis, k.channel_axis) != (
            first.diagonal_batch,
            first.diagonal_spatial,
            first.batch_axis,
            first.channel_axis,
        ):
            raise LayerError(
                name,
                f"branch {i} lays out its kernel differently from branch 0 "
                "(batch/channel axes or diagonal flags differ).",
                "give every branch the same batch_axis and channel_axis.",
            )


def _concat_shape(
    name: str, shapes: list[tuple[int, ...]], axis: int
) -> tuple[int, ...]:
    ndim = len(shapes[0])
    if any(len(s) != ndim for s in shapes) or not -ndim <= axis < ndim:
        raise LayerError(
            name,
            f"cannot concatenate branch shapes {shapes} along axis {axis}.",
            "give every branch outputs of the same rank.",
        )
    ax = axis % ndim
    others = {tuple(s[:ax]) + tuple(s[ax + 1 :]) for s in shapes}
    if len(others) > 1:
        raise LayerError(
            name,
            f"branch output shapes {shapes} differ outside the concatenation "
            f"axis {axis}.",
            "make the branches agree on every other axis (same batch and spatial "
            "sizes).",
        )
    return (
        tuple(shapes[0][:ax])
        + (sum(s[ax] for s in shapes),)
        + tuple(shapes[0][ax + 1 :])
    )


def _weighted_mean(values: list[Any], widths: list[int]) -> Any:
    if any(v is None for v in values):
        return None
    if all(w == widths[0] for w in widths):
        return sum(values[1:], values[0]) / len(values)
    total = sum(widths)
    return sum(v * (w / total) for v, w in zip(values, widths, strict=True))


def FanInConcat(axis: int = -1) -> Layer:
    r"""Concatenate branch outputs along ``axis`` (the channel axis for kernels).

    Concatenated channels average into the next layer's inner products, so the
    kernel is the width-weighted mean of the branch kernels (widths
    :math:`n_i`):

    .. math::
        K = \frac{\sum_i n_i K_i}{\sum_i n_i},
        \qquad \Theta = \frac{\sum_i n_i \Theta_i}{\sum_i n_i}.

    The result is not Gaussian, as in Neural Tangents: a nonlinearity right after
    the concatenation would act on channels of different variances, so a
    ``Dense`` must come next. The finite network concatenates along any axis;
    ``kernel_fn`` supports the channel axis only.

    Args:
      axis: the concatenation axis of the finite outputs.
    """
    name = f"FanInConcat(axis={axis})"
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise LayerError(name, f"`axis={axis!r}` must be an integer.", "e.g. axis=-1.")

    def init_fn(key: jax.Array, input_shapes: Any) -> tuple[Any, tuple[()]]:
        del key
        shapes = [tuple(s) for s in require_list(name, input_shapes)]
        return _concat_shape(name, shapes, axis), ()

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> jax.Array:
        del params, kwargs
        return jnp.concatenate(list(inputs), axis=axis)

    def kernel_transform(ks: Any, **kwargs: Any) -> Kernel:
        del kwargs
        ks = require_list(name, ks)
        _require_same_layout(name, ks)
        first = ks[0]
        ndim = len(first.shape1)
        channel = first.channel_axis % ndim
        if axis % ndim != channel:
            raise LayerError(
                name,
                f"concatenating along axis {axis}, which is not the channel axis "
                f"({first.channel_axis}), is not supported by kernel_fn yet.",
                "concatenate channels (axis=-1, or the layers' channel_axis), or "
                "use serial(*layers) per branch and stack the kernels yourself.",
            )
        shape1 = _concat_shape(name, [k.shape1 for k in ks], axis)
        shape2 = _concat_shape(name, [k.shape2 for k in ks], axis)
        widths = [k.shape1[channel] for k in ks]
        return first.replace(
            nngp=_weighted_mean([k.nngp for k in ks], widths),
            ntk=_weighted_mean([k.ntk for k in ks], widths),
            cov1=_weighted_mean([k.cov1 for k in ks], widths),
            cov2=_weighted_mean([k.cov2 for k in ks], widths),
            is_gaussian=False,
            is_input=False,
            shape1=shape1,
            shape2=shape2,
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        tracks_shapes=False,
    )


def _product(values: list[Any]) -> Any:
    if any(v is None for v in values):
        return None
    return functools.reduce(operator.mul, values)


def FanInProd() -> Layer:
    r"""Multiply branch outputs elementwise.

    For independent branches second moments multiply, and the Jacobian of a
    product follows the product rule:

    .. math::
        K = \prod_i K_i,
        \qquad \Theta = \sum_i \Theta_i \prod_{j \ne i} K_j .

    A product of Gaussians is not Gaussian, so only an affine layer may follow
    (unless there is a single branch). Branches that are the raw inputs (e.g.
    two ``Identity()`` branches) are not independent, so at most one may be.
    """
    name = "FanInProd"

    def init_fn(key: jax.Array, input_shapes: Any) -> tuple[Any, tuple[()]]:
        del key
        shapes = require_list(name, input_shapes)
        require_same_shapes(name, list(shapes))
        return shapes[0], ()

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> jax.Array:
        del params, kwargs
        return functools.reduce(operator.mul, inputs)

    def kernel_transform(ks: Any, **kwargs: Any) -> Kernel:
        del kwargs
        ks = require_list(name, ks)
        require_same_shapes(name, [k.shape1 for k in ks])
        require_same_shapes(name, [k.shape2 for k in ks])
        _require_same_layout(name, ks)
        if sum(k.is_input for k in ks) > 1:
            raise LayerError(
                name,
                "more than one branch passes the raw inputs through unchanged; "
                "their product's kernel is not the product of their kernels.",
                "put a random layer (e.g. Dense) in all but one of those branches.",
            )
        nngps = [k.nngp for k in ks]
        ntks = [k.ntk for k in ks]
        ntk = None
        if all(t is not None for t in ntks):
            ntk = sum(
                _product([ntks[i]] + nngps[:i] + nngps[i + 1 :]) for i in range(len(ks))
            )
        return ks[0].replace(
            nngp=_product(nngps),
            ntk=ntk,
            cov1=_product([k.cov1 for k in ks]),
            cov2=_product([k.cov2 for k in ks]),
            is_gaussian=len(ks) == 1 and ks[0].is_gaussian,
            is_input=False,
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        tracks_shapes=False,
    )
