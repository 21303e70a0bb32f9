r"""``Index``: numpy-style indexing of a layer's outputs, and the ``Slice`` helper.

Indexing picks output entries, so the covariance of the picked entries is the
picked block of the covariance: a spatial index applies to both positions of
every pair (in the full layout, once per axis of the pair), a batch slice to
both example axes. The channel axis is infinitely wide in the kernel regime
and cannot be indexed; an integer batch index would drop the batch axis every
kernel needs. Both restrictions are Neural Tangents 0.6.5's (``stax.Index``;
Novak et al. 2020, "Neural Tangents: fast and easy infinite neural networks in
Python").
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..errors import LayerError
from . import _masking
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer


class _SliceMaker:
    """``Slice[1:10, :, ::-1]`` returns the index ``x[1:10, :, ::-1]`` would use."""

    def __getitem__(self, idx: Any) -> Any:
        return idx

    def __repr__(self) -> str:
        return "Slice"


Slice = _SliceMaker()
"""Builds an index for :func:`Index`: ``Index(Slice[:, 1:4, ::2])``."""


def _check_idx(idx: Any) -> tuple[Any, ...]:
    parts = idx if isinstance(idx, tuple) else (idx,)
    bad = [
        p
        for p in parts
        if not (
            p is Ellipsis
            or isinstance(p, slice)
            or (isinstance(p, int | np.integer) and not isinstance(p, bool))
        )
    ]
    if bad or sum(p is Ellipsis for p in parts) > 1:
        raise LayerError(
            "Index",
            f"`idx={idx!r}` must be an integer, a slice, `...`, or a tuple of them "
            "with at most one `...` (no arrays, booleans or None).",
            "build it with stax.Slice, e.g. Index(Slice[:, 1:4, ...]).",
        )
    return tuple(int(p) if isinstance(p, np.integer) else p for p in parts)


def canonical(idx: tuple[Any, ...], ndim: int) -> tuple[Any, ...]:
    """One entry per axis: ``...`` expanded, missing trailing axes as ``:``."""
    if Ellipsis in idx:
        at = idx.index(Ellipsis)
        fill = (slice(None),) * (ndim - len(idx) + 1)
        idx = idx[:at] + fill + idx[at + 1 :]
    if len(idx) > ndim:
        raise LayerError(
            "Index",
            f"the index has {len(idx)} entries but the outputs have only {ndim} axes.",
            "index at most one entry per axis (batch, spatial ..., channels).",
        )
    return idx + (slice(None),) * (ndim - len(idx))


def _sliced_shape(shape: tuple[int, ...], idx: tuple[Any, ...]) -> tuple[int, ...]:
    try:
        # A zero-strided view: the shape of x[idx] without allocating x.
        return tuple(np.broadcast_to(np.empty(()), shape)[idx].shape)
    except IndexError as e:
        raise LayerError(
            "Index",
            f"the index {idx!r} does not fit outputs of shape {tuple(shape)}: {e}.",
            "keep integer indices within each axis' size.",
        ) from None


def Index(idx: Any, batch_axis: int = 0, channel_axis: int = -1) -> Layer:
    """Index a layer's outputs like a numpy array: ``outputs[idx]``.

    Build ``idx`` with :data:`Slice`, e.g. ``Index(Slice[:, :4, ::-1])`` keeps
    the first four rows of images reversed left to right. An integer on a
    spatial axis removes it (a row of an image becomes a sequence). In
    ``kernel_fn`` the channel axis must be left whole (``:`` or ``...``) and
    the batch axis may only be sliced, never indexed by an integer.
    """
    parts = _check_idx(idx)

    def shape_fn(shape: tuple[int, ...]) -> tuple[int, ...]:
        if not shape:
            return shape
        return _sliced_shape(tuple(shape), parts)

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return shape_fn(tuple(input_shape)), ()

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params, kwargs
        return inputs[parts]

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        ndim = len(k.shape1)
        full = canonical(parts, ndim)
        batch, channel = k.batch_axis % ndim, k.channel_axis % ndim
        if full[channel] != slice(None):
            raise LayerError(
                "Index",
                f"indexes the channel axis ({channel}) with {full[channel]!r}, but "
                "channels are infinitely many in the kernel regime.",
                "leave the channel axis whole (`:` or `...`), e.g. "
                "Index(Slice[:, 1:4, ...]); select channels in finite networks only.",
            )
        if not isinstance(full[batch], slice):
            raise LayerError(
                "Index",
                f"indexes the batch axis ({batch}) with the integer {full[batch]}, "
                "which would remove the batch axis every kernel needs.",
                f"slice it instead, e.g. {full[batch]}:{full[batch] + 1} "
                "(or index the kernel's result).",
            )
        spatial = tuple(s for a, s in enumerate(full) if a not in (batch, channel))
        b = full[batch]
        pairs = (
            spatial if k.diagonal_spatial else tuple(x for s in spatial for x in (s, s))
        )
        nngp_idx = (b, b) + pairs
        cov_idx = ((b,) if k.diagonal_batch else (b, b)) + pairs

        def pick(x: jax.Array | None, at: tuple[Any, ...]) -> jax.Array | None:
            return x if x is None or x.ndim == 0 else x[at]

        mask_idx = (b,) + spatial
        # Integers remove axes: batch and channel move left past them.
        removed = [a for a, s in enumerate(full) if isinstance(s, int)]
        return k.replace(
            nngp=pick(k.nngp, nngp_idx),
            ntk=pick(k.ntk, nngp_idx),
            cov1=pick(k.cov1, cov_idx),
            cov2=pick(k.cov2, cov_idx),
            mask1=pick(k.mask1, mask_idx),
            mask2=pick(k.mask2, mask_idx),
            batch_axis=batch - sum(a < batch for a in removed),
            channel_axis=channel - sum(a < channel for a in removed),
        )

    return make_layer(
        f"Index({idx!r})",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        requirements=Requirements(batch_axis=batch_axis, channel_axis=channel_axis),
        masking=_masking.SLICED,
    )
