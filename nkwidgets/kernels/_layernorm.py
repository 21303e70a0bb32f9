r"""Layer normalisation and its infinite-width kernel.

``LayerNorm`` subtracts the mean and divides by the standard deviation over
``axis``, which must include the channel axis. With infinitely many i.i.d.
Gaussian channels the channel mean is 0 and the channel variance is the
pre-activation variance :math:`q(x, s)` exactly, so the layer rescales each
output deterministically (Hron et al. 2020, "Infinite attention: NNGP and NTK
for deep attention networks", sec. 3.4):

.. math::
    K'_{12}(s, s') = \frac{K_{12}(s, s')}
        {\sqrt{(\epsilon + \bar q_1(s))(\epsilon + \bar q_2(s'))}},
    \qquad \Theta' \text{ likewise},

where :math:`\bar q` averages :math:`q` over the other normalised axes
(positions, or examples for the batch axis), skipping masked positions. The
result no longer depends on the scale of the inputs.
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
from ._masking import KEEP


def _normalize_axes(name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    bad = [a for a in axes if not isinstance(a, int) or not -ndim <= a < ndim]
    if bad or not axes:
        raise LayerError(
            name,
            f"`axis={axis!r}` does not name axes of {ndim}-dimensional inputs.",
            "e.g. axis=-1 (channels), or axis=(1, 2) for (N, T, C) sequences.",
        )
    return tuple(sorted({a % ndim for a in axes}))


def _spread_pair(q1: jax.Array, q2: jax.Array, full: bool) -> jax.Array:
    """``q1[i] * q2[j]`` laid out like nngp ``(N1, N2, *S)`` (full: per pair)."""
    a, b = q1[:, None], q2[None, :]
    if full:
        n = q1.ndim - 1
        for d in reversed(range(n)):
            a = jnp.expand_dims(a, 2 + d + 1)
            b = jnp.expand_dims(b, 2 + d)
    return a * b


def _spread_self(q: jax.Array, full: bool) -> jax.Array:
    """``q[i, s] * q[i, s']`` laid out like cov1 ``(N, *S)``."""
    if not full:
        return q * q
    a = b = q
    for d in reversed(range(q.ndim - 1)):
        a = jnp.expand_dims(a, 1 + d + 1)
        b = jnp.expand_dims(b, 1 + d)
    return a * b


def LayerNorm(
    axis: int | Sequence[int] = -1,
    eps: float = 1e-12,
    batch_axis: int = 0,
    channel_axis: int = -1,
) -> Layer:
    """Layer normalisation over ``axis``, as Neural Tangents' ``LayerNorm``.

    Args:
      axis: axes to normalise over; must include ``channel_axis`` (only then
        do the statistics converge to a deterministic limit).
      eps: added to the variance before the square root.
      batch_axis, channel_axis: axes of the inputs.

    ``apply_fn(params, x, mask=None)`` accepts a boolean position mask
    (``True`` = padding, shaped like ``x`` with or without the channel axis)
    that is left out of the statistics over positions.
    """
    name = "LayerNorm"
    if isinstance(eps, bool) or not isinstance(eps, int | float) or eps < 0:
        raise LayerError(name, f"`eps={eps!r}` must be >= 0.", "e.g. eps=1e-12.")

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return tuple(input_shape), ()

    def apply_fn(
        params: Any, inputs: jax.Array, mask: Any = None, **kwargs: Any
    ) -> jax.Array:
        del params, kwargs
        axes = _normalize_axes(name, axis, inputs.ndim)
        if mask is None:
            mean = jnp.mean(inputs, axes, keepdims=True)
            var = jnp.var(inputs, axes, keepdims=True)
        else:
            m = jnp.asarray(mask, bool)
            if m.ndim < inputs.ndim:
                m = jnp.expand_dims(m, channel_axis % inputs.ndim)
            keep = jnp.broadcast_to(~m, inputs.shape).astype(inputs.dtype)
            count = jnp.maximum(jnp.sum(keep, axes, keepdims=True), 1.0)
            mean = jnp.sum(inputs * keep, axes, keepdims=True) / count
            var = jnp.sum(keep * (inputs - mean) ** 2, axes, keepdims=True) / count
        return (inputs - mean) / jnp.sqrt(eps + var)

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        if not k.is_gaussian:
            raise LayerError(
                name,
                "its input is not Gaussian, and the limit of the normalising "
                "statistics is known only for Gaussian channels.",
                "put a Dense (or Conv, GlobalSelfAttention) layer before LayerNorm.",
            )
        ndim = len(k.shape1)
        axes = _normalize_axes(name, axis, ndim)
        b, c = batch_axis % ndim, channel_axis % ndim
        if c not in axes:
            raise LayerError(
                name,
                f"`axis={axis!r}` leaves out the channel axis ({c}); only "
                "statistics over infinitely many channels have a deterministic "
                "limit.",
                f"include the channel axis, e.g. axis={channel_axis} or "
                f"axis=({channel_axis}, ...).",
            )
        spatial_axes = [a for a in range(ndim) if a not in (b, c)]
        # Axes of the per-position variances (N, *S) to average over.
        reduce = tuple([0] if b in axes else []) + tuple(
            1 + spatial_axes.index(a) for a in axes if a in spatial_axes
        )
        full = not k.diagonal_spatial and bool(spatial_axes)
        cov2 = k.cov2

        def variances(cov: jax.Array, mask: Any) -> jax.Array:
            q = _spatial.diagonal(cov, 1) if full else cov
            q = eps + q
            if not reduce:
                return q
            if mask is None:
                return jnp.mean(q, axis=reduce, keepdims=True) * jnp.ones_like(q)
            keep = (~mask).astype(q.dtype)
            count = jnp.maximum(jnp.sum(keep, axis=reduce, keepdims=True), 1.0)
            # Masked positions carry zero covariance; their eps is not data.
            mean = jnp.sum(q * keep, axis=reduce, keepdims=True) / count
            return mean * jnp.ones_like(q)

        q1 = variances(k.cov1, k.mask1)
        m2 = k.mask2 if k.mask2 is not None else k.mask1
        q2 = q1 if cov2 is None else variances(cov2, m2)
        norm12 = jnp.sqrt(_spread_pair(q1, q2, full))
        ntk = k.ntk
        if ntk is not None and jnp.ndim(ntk) > 0:
            ntk = ntk / norm12
        return k.replace(
            nngp=k.nngp / norm12,
            ntk=ntk,
            cov1=k.cov1 / jnp.sqrt(_spread_self(q1, full)),
            cov2=None if cov2 is None else cov2 / jnp.sqrt(_spread_self(q2, full)),
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        requirements=Requirements(batch_axis=batch_axis, channel_axis=channel_axis),
        masking=KEEP,
    )
