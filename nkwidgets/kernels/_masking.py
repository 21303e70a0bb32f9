r"""Masked positions: variable-length inputs padded with a sentinel value.

``kernel_fn(x1, x2, get, mask_constant=c)`` treats every input entry equal to
``c`` (or NaN entries when ``c`` is NaN) as padding, as Neural Tangents does
(Hron et al. 2020, "Infinite attention: NNGP and NTK for deep attention
networks", sec. 4, variable-length sequences): such entries are zeroed, and a
*position* whose channels are all padding is masked. The masks travel in the
Kernel as ``mask1`` ``(N1, *S)`` and ``mask2`` ``(N2, *S)``, booleans in the
engine's batch-first, natural-spatial-order layout (True = masked), and every
layer that supports masking declares a :class:`MaskRule`:

* position-wise layers (Dense, nonlinearities, attention) keep the mask and
  zero every covariance that involves a masked position, so padding never
  leaks into later layers;
* global pooling averages over unmasked positions only; Flatten keeps the
  zeros (as NT) and masks an example only when all its positions are masked;
* convolutions and pooling windows read masked inputs as the zeros they are
  and mask an output position by the input at its window's centre (a
  transposed convolution: by any masked input it spreads), then re-zero the
  covariances of masked outputs, as Neural Tangents 0.6.5 does;
* Index slices the masks with the covariances.

A layer without a rule raises a LayerError when a mask reaches it, instead of
silently mixing padding into the kernel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LayerError
from . import _spatial
from ._kernel import Kernel


@dataclasses.dataclass(frozen=True)
class MaskRule:
    """How a layer treats masked positions.

    Attributes:
      propagate: position mask of the inputs ``(N, *S)`` -> of the outputs;
        ``None`` keeps it.
      remask: zero the output covariances that involve a masked position
        (needed where a layer makes zeros non-zero: biases, ``Exp``).
      adjust: ``(kernel_in, kernel_out) -> kernel_out`` for layers whose
        arithmetic must discount masked positions (global average pooling).
      children: the layer sets its output masks itself (combinators through
        their children; Index slices them with the covariances).
    """

    propagate: Callable[[jax.Array], jax.Array] | None = None
    remask: bool = False
    adjust: Callable[[Kernel, Kernel], Kernel] | None = None
    children: bool = False

    def apply(self, k_in: Kernel, k_out: Kernel) -> Kernel:
        """The output Kernel with masks propagated (and covariances re-zeroed)."""
        if self.children:
            return k_out
        if self.adjust is not None:
            k_out = self.adjust(k_in, k_out)
        m1, m2 = k_in.mask1, k_in.mask2
        if self.propagate is not None:
            m1 = None if m1 is None else self.propagate(m1)
            m2 = None if m2 is None else self.propagate(m2)
        k_out = k_out.replace(mask1=m1, mask2=m2)
        return remask(k_out) if self.remask else k_out


KEEP = MaskRule()
"""Masks pass unchanged and the layer keeps zeros at zero (ReLU-like, LayerNorm)."""

KEEP_REMASK = MaskRule(remask=True)
"""Masks pass unchanged; covariances of masked positions are re-zeroed."""

CHILDREN = MaskRule(children=True)
"""Combinators: their layers handle the masks."""


def has_mask(k: Any) -> bool:
    """Whether ``k`` (a Kernel or a list of them) carries a mask."""
    if isinstance(k, list | tuple):
        return any(has_mask(x) for x in k)
    return isinstance(k, Kernel) and (k.mask1 is not None or k.mask2 is not None)


def unsupported(name: str) -> LayerError:
    """The error for a mask reaching a layer without a :class:`MaskRule`."""
    return LayerError(
        name,
        f"masking is not supported by {name}: a masked (padded) position would "
        "be mixed into the kernel as if it were data.",
        "apply masks only to networks of Dense, nonlinearities, Conv, "
        "ConvTranspose, ConvLocal, AvgPool, SumPool, GlobalSelfAttention, "
        "LayerNorm, Aggregate, GlobalAvgPool/GlobalSumPool, Flatten and Index; "
        "or pad inputs with zeros and drop mask_constant.",
    )


def entry_mask(x: jax.Array, mask_constant: float) -> jax.Array:
    """Boolean mask of the entries of ``x`` equal to ``mask_constant`` (NaN: isnan)."""
    if np.isnan(mask_constant):
        return jnp.isnan(x)
    return x == mask_constant


def is_full(k: Kernel, mask: jax.Array) -> bool:
    """Whether ``k`` holds all position pairs for a mask of this rank."""
    return not k.diagonal_spatial and mask.ndim > 1


def spread(mask: jax.Array, which: int, full: bool, batch_ndim: int) -> jax.Array:
    """Place a position mask ``(N, *S)`` on the kernel layout.

    ``which=0`` puts it on the first example/position axis of each pair,
    ``which=1`` on the second; ``batch_ndim`` is 2 for nngp (``N1, N2``) and 1
    for cov1/cov2 (the same example on both sides).
    """
    if batch_ndim == 2:
        mask = jnp.expand_dims(mask, 1 - which)
    if not full:
        return mask
    n_spatial = mask.ndim - batch_ndim
    # Insert a length-1 axis next to each spatial axis, on the other side.
    for d in reversed(range(n_spatial)):
        axis = batch_ndim + d
        mask = jnp.expand_dims(mask, axis + 1 - which)
    return mask


def pair_masks(k: Kernel) -> tuple[Any, Any, Any]:
    """Masks shaped like ``nngp``, ``cov1`` and ``cov2``: True where either
    position of the pair is masked; ``None`` where nothing is masked."""
    m1, m2 = k.mask1, k.mask2 if k.mask2 is not None else k.mask1
    if m1 is None and m2 is None:
        return None, None, None
    ref = m1 if m1 is not None else m2
    full = is_full(k, ref)
    m1 = jnp.zeros_like(ref) if m1 is None else m1
    if m2 is None:
        m2 = jnp.zeros((k.nngp.shape[1],) + ref.shape[1:], bool)
    m12 = spread(m1, 0, full, 2) | spread(m2, 1, full, 2)
    m11 = spread(m1, 0, full, 1) | spread(m1, 1, full, 1)
    m22 = spread(m2, 0, full, 1) | spread(m2, 1, full, 1)
    return m12, m11, m22


def _zero(x: jax.Array | None, mask: jax.Array) -> jax.Array | None:
    if x is None or jnp.ndim(x) == 0:
        return x
    return jnp.where(mask, jnp.zeros((), x.dtype), x)


def remask(k: Kernel) -> Kernel:
    """``k`` with every covariance involving a masked position set to zero."""
    m12, m11, m22 = pair_masks(k)
    if m12 is None:
        return k
    return k.replace(
        nngp=_zero(k.nngp, m12),
        ntk=_zero(k.ntk, m12),
        cov1=_zero(k.cov1, m11),
        cov2=_zero(k.cov2, m22),
    )


def all_positions(mask: jax.Array) -> jax.Array:
    """Example mask ``(N,)``: an example is masked when all its positions are."""
    return jnp.all(mask.reshape(mask.shape[0], -1), axis=1)


def _global_mean_adjust(k_in: Kernel, k_out: Kernel) -> Kernel:
    # The layer averaged over all |S|^2 position pairs, masked ones being zero;
    # rescaling by |S|^2 / (#unmasked pairs) makes it the mean over real pairs.
    m1 = k_in.mask1
    m2 = k_in.mask2 if k_in.mask2 is not None else m1
    ref = m1 if m1 is not None else m2
    size = float(np.prod(ref.shape[1:]))
    dtype = k_out.nngp.dtype

    def unmasked(m: jax.Array | None, n: int) -> jax.Array:
        if m is None:
            return jnp.full((n,), size, dtype)
        return jnp.sum(~m.reshape(m.shape[0], -1), axis=1).astype(dtype)

    c1 = unmasked(m1, k_in.nngp.shape[0])
    c2 = unmasked(m2, k_in.nngp.shape[1])

    def rescale(x: jax.Array | None, pairs: jax.Array) -> jax.Array | None:
        if x is None or jnp.ndim(x) == 0:
            return x
        return x * (size * size / jnp.maximum(pairs, 1.0))

    return k_out.replace(
        nngp=rescale(k_out.nngp, c1[:, None] * c2[None, :]),
        ntk=rescale(k_out.ntk, c1[:, None] * c2[None, :]),
        cov1=rescale(k_out.cov1, c1 * c1),
        cov2=rescale(k_out.cov2, c2 * c2),
    )


def global_pool_rule(average: bool) -> MaskRule:
    """GlobalAvgPool averages over unmasked positions; both mask an example
    only when every position is masked."""
    return MaskRule(
        propagate=all_positions,
        adjust=_global_mean_adjust if average else None,
    )


FLATTEN = MaskRule(propagate=all_positions)
"""Flatten keeps masked positions as zeros in the mean (Neural Tangents' rule)."""


def _in_output_order(mask: jax.Array, order: tuple[int, ...] | None) -> jax.Array:
    if order is None or list(order) == sorted(order):
        return mask
    return jnp.transpose(mask, (0,) + tuple(1 + d for d in order))


def window_rule(
    windows: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
    order: tuple[int, ...] | None = None,
) -> MaskRule:
    """Convolutions and pooling windows: an output position is masked when the
    input position at the centre of its window is (Neural Tangents'
    ``_pool_mask``); real outputs next to padding sum the masked inputs as the
    zeros they are. ``order``: the output's spatial dimensions in terms of the
    input's (convolutions with permuting ``dimension_numbers``)."""

    def propagate(mask: jax.Array) -> jax.Array:
        sizes = mask.shape[1:]
        outs = tuple(
            _spatial.out_size(n, w, s, padding)
            for n, w, s in zip(sizes, windows, strides, strict=True)
        )
        # NT leaves the mask alone when every size is kept (SAME, stride 1);
        # otherwise the centres below are in range by construction of SAME
        # and VALID pads, and the clip only guards the index arithmetic.
        if outs != sizes:
            for d, (n, w, s) in enumerate(zip(sizes, windows, strides, strict=True)):
                lo, _ = _spatial.pads_for(n, w, s, padding)
                centres = -lo + (w - 1) // 2 + s * np.arange(outs[d])
                mask = jnp.take(mask, np.clip(centres, 0, n - 1), axis=1 + d)
        return _in_output_order(mask, order)

    return MaskRule(propagate=propagate, remask=True)


def transposed_window_rule(
    windows: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
    order: tuple[int, ...] | None = None,
) -> MaskRule:
    """Transposed convolutions: an output position is masked when any masked
    input reaches it (Neural Tangents transposes the mask with a filter of
    ones); ``CIRCULAR`` spreads it as ``SAME`` does."""
    mode = "SAME" if padding == "CIRCULAR" else padding

    def propagate(mask: jax.Array) -> jax.Array:
        spread_mask = mask.astype(jnp.float32)
        for d, (w, s) in enumerate(zip(windows, strides, strict=True)):
            spread_mask = _spatial.transposed_window_sum(
                spread_mask, (1 + d,), w, s, mode
            )
        return _in_output_order(spread_mask > 0, order)

    return MaskRule(propagate=propagate, remask=True)


SLICED = MaskRule(children=True)
"""Index: its transform slices the masks together with the covariances."""
