r"""Spatial layouts of covariances and the window sums convolutions and pooling need.

Two layouts, as in Neural Tangents (``Kernel.diagonal_spatial``):

* **diagonal**: ``(*B, H, W, ...)`` — only same-position covariances. Enough for
  networks whose layers never mix positions before reading them out (dense,
  elementwise, convolution without pooling, Flatten), and ``|S|`` times smaller.
* **full**: ``(*B, H, H', W, W', ...)`` — every pair of positions, the two axes of
  one spatial dimension interleaved so a per-dimension operation sees them side
  by side.

``B`` is ``(N1, N2)`` for ``nngp``/``ntk`` and ``(N,)`` for ``cov1``/``cov2``.

A convolution of the inputs with an i.i.d. filter of size ``F`` (per dimension)
turns covariances into *diagonal window sums*: output pair ``(a, b)`` sums input
pairs ``(a s + f, b s + f)`` over the shared offset ``f``. Pooling sums the two
positions independently: ``(a s + f, b s + g)``. Both are done one spatial
dimension at a time (the filters are products over dimensions) by adding ``F``
strided slices of a padded array, which XLA fuses into one pass over memory;
a dense 4-D convolution with a diagonal filter would spend ``F`` times the FLOPs
on zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LayerError

Padding = Literal["VALID", "SAME", "CIRCULAR"]
PADDINGS: tuple[str, ...] = ("VALID", "SAME", "CIRCULAR")


def pads_for(size: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    """Padding (low, high) of one axis, as ``lax.conv_general_dilated`` applies it.

    ``CIRCULAR`` pads as ``SAME`` but with wrapped values (periodic images).
    """
    mode = "SAME" if padding == "CIRCULAR" else padding
    ((lo, hi),) = jax.lax.padtype_to_pads((size,), (window,), (stride,), mode)
    return int(lo), int(hi)


def out_size(size: int, window: int, stride: int, padding: str) -> int:
    """Length of one spatial axis after a window of ``window`` with ``stride``."""
    lo, hi = pads_for(size, window, stride, padding)
    return max((size + lo + hi - window) // stride + 1, 0)


def _pad(x: jax.Array, axes: Sequence[int], lo: int, hi: int, wrap: bool) -> jax.Array:
    if lo == 0 and hi == 0:
        return x
    widths = [(0, 0)] * x.ndim
    for a in axes:
        widths[a] = (lo, hi)
    return jnp.pad(x, widths, mode="wrap" if wrap else "constant")


def window_sum(
    x: jax.Array,
    axes: Sequence[int],
    window: int,
    stride: int,
    padding: str,
) -> jax.Array:
    """Sum over a window slid jointly along ``axes`` (all of the same length).

    With one axis this is an ordinary 1-D sum-pool; with the two axes of a
    position pair it is the diagonal sum a convolution induces on covariances.
    Out-of-range positions count as zero (``VALID``/``SAME``) or wrap
    (``CIRCULAR``).
    """
    size = x.shape[axes[0]]
    lo, hi = pads_for(size, window, stride, padding)
    x = _pad(x, axes, lo, hi, padding == "CIRCULAR")
    n_out = out_size(size, window, stride, padding)
    total = None
    for f in range(window):
        index: list[slice] = [slice(None)] * x.ndim
        for a in axes:
            index[a] = slice(f, f + (n_out - 1) * stride + 1, stride)
        part = x[tuple(index)]
        total = part if total is None else total + part
    assert total is not None
    return total


def window_counts(size: int, window: int, stride: int, padding: str) -> np.ndarray:
    """How many real (non-padding) positions each output window covers."""
    lo, hi = pads_for(size, window, stride, padding)
    ones = np.pad(np.ones(size), (lo, hi))
    n_out = out_size(size, window, stride, padding)
    return np.array(
        [ones[o * stride : o * stride + window].sum() for o in range(n_out)]
    )


def transpose_pads(window: int, stride: int, padding: str) -> tuple[int, int]:
    """Padding of the stride-dilated input that makes a stride-1 correlation a
    transposed convolution, as ``lax.conv_transpose`` defines it."""
    if padding == "SAME":
        total = window + stride - 2
        lo = window - 1 if stride > window - 1 else int(np.ceil(total / 2))
    else:  # VALID (CIRCULAR is computed as VALID, then folded)
        total = window + stride - 2 + max(window - stride, 0)
        lo = window - 1
    return lo, total - lo


def dilate(x: jax.Array, axes: Sequence[int], stride: int) -> jax.Array:
    """Insert ``stride - 1`` zeros between neighbours along ``axes``."""
    if stride == 1:
        return x
    config = [(0, 0, 0)] * x.ndim
    for a in axes:
        config[a] = (0, 0, stride - 1)
    return jax.lax.pad(x, jnp.zeros((), x.dtype), config)


def transposed_window_sum(
    x: jax.Array, axes: Sequence[int], window: int, stride: int, padding: str
) -> jax.Array:
    """:func:`window_sum` of a transposed convolution along ``axes``."""
    size = x.shape[axes[0]]
    mode = "VALID" if padding == "CIRCULAR" else padding
    lo, hi = transpose_pads(window, stride, mode)
    x = dilate(x, axes, stride)
    x = _pad(x, axes, lo, hi, wrap=False)
    out = window_sum(x, axes, window, 1, "VALID")
    if padding == "CIRCULAR":
        out = fold_circular(out, axes, size * stride)
    return out


def fold_circular(x: jax.Array, axes: Sequence[int], period: int) -> jax.Array:
    """Wrap a VALID transposed-convolution output onto a periodic axis.

    The VALID output overhangs the periodic (SAME-sized) one by the same amount
    on both sides (the extra one on the right, as Neural Tangents crops);
    overhanging entries belong to their position modulo the period.
    """
    length = x.shape[axes[0]]
    lo = (length - period) // 2
    for a in axes:
        folded = jnp.zeros(x.shape[:a] + (period,) + x.shape[a + 1 :], x.dtype)
        positions = (np.arange(length) - lo) % period
        folded = folded.at[(slice(None),) * a + (positions,)].add(x)
        x = folded
    return x


def diagonal(x: jax.Array, batch_ndim: int) -> jax.Array:
    """Same-position entries of a full-layout array: ``(*B, H, H, W, W) -> (*B, H, W)``."""
    n_spatial = (x.ndim - batch_ndim) // 2
    for _ in range(n_spatial):
        # jnp.diagonal moves the diagonal to the end, so after one pass per
        # dimension the spatial axes are back in order.
        x = jnp.diagonal(x, axis1=batch_ndim, axis2=batch_ndim + 1)
    return x


def from_diagonal(d: jax.Array, batch_ndim: int) -> jax.Array:
    """Full layout with ``d`` on the position diagonal and zeros elsewhere."""
    out = d
    for axis in range(d.ndim - 1, batch_ndim - 1, -1):
        n = d.shape[axis]
        eye = jnp.eye(n, dtype=d.dtype)
        out = jnp.expand_dims(out, axis + 1) * eye.reshape(
            (n, n) + (1,) * (out.ndim - axis - 1)
        )
    return out


def pair_axes(batch_ndim: int, dim: int) -> tuple[int, int]:
    """Axes of spatial dimension ``dim`` in the full layout."""
    first = batch_ndim + 2 * dim
    return first, first + 1


def permute_spatial(
    x: jax.Array | None, order: Sequence[int], batch_ndim: int, full: bool
) -> jax.Array | None:
    """Reorder spatial dimensions (each a pair of axes in the full layout)."""
    if x is None or jnp.ndim(x) == 0 or list(order) == sorted(order):
        return x
    perm = list(range(batch_ndim))
    for d in order:
        perm += list(pair_axes(batch_ndim, d)) if full else [batch_ndim + d]
    return jnp.transpose(x, perm)


def check_rank(name: str, shape: Sequence[int], n_spatial: int, what: str) -> None:
    """Raise a LayerError unless ``shape`` has batch, ``n_spatial`` and channel axes."""
    if shape and len(shape) != n_spatial + 2:
        raise LayerError(
            name,
            f"its inputs have shape {tuple(shape)}, but a {n_spatial}-D {what} needs "
            f"{n_spatial + 2} axes (batch, {n_spatial} spatial, channels).",
            f"reshape the inputs (e.g. digits as x.reshape(-1, 8, 8, 1)), or give "
            f"the layer {max(len(shape) - 2, 1)} spatial sizes.",
        )


def check_window(
    name: str, shape: Any, strides: Any, padding: Any, arg: str
) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """Validate a filter or pooling window, its strides and padding, as LayerErrors.

    ``arg`` names the window argument in messages (``filter_shape``,
    ``window_shape``). ``strides=None`` means 1 along every dimension.
    """
    if (
        not isinstance(shape, Sequence)
        or len(shape) == 0
        or not all(isinstance(w, int) and w > 0 for w in shape)
    ):
        raise LayerError(
            name,
            f"`{arg}={shape!r}` must be a non-empty tuple of positive integers, "
            "one per spatial dimension.",
            f"e.g. {arg}=(3, 3) for images.",
        )
    window = tuple(int(w) for w in shape)
    n = len(window)
    strides = (1,) * n if strides is None else strides
    if (
        not isinstance(strides, Sequence)
        or len(strides) != n
        or not all(isinstance(v, int) and v > 0 for v in strides)
    ):
        raise LayerError(
            name,
            f"`strides={strides!r}` must be {n} positive integers, like `{arg}={window}`.",
            f"e.g. strides={(1,) * n}.",
        )
    pad = str(padding).upper()
    if pad not in PADDINGS:
        raise LayerError(
            name,
            f"`padding={padding!r}` is not known.",
            "use 'VALID', 'SAME' or 'CIRCULAR'.",
        )
    return window, tuple(int(v) for v in strides), pad


def map_covariances(
    k: Any, fn: Callable[[jax.Array, int], jax.Array]
) -> dict[str, jax.Array | None]:
    """``fn(array, batch_ndim)`` applied to a Kernel's nngp, ntk, cov1 and cov2.

    Missing arrays (``None``) and the input kernel's scalar NTK pass through;
    the result is meant for ``k.replace(**...)``.
    """
    cov_ndim = 1 if k.diagonal_batch else 2

    def apply(x: jax.Array | None, batch_ndim: int) -> jax.Array | None:
        return x if x is None or jnp.ndim(x) == 0 else fn(x, batch_ndim)

    return {
        "nngp": apply(k.nngp, 2),
        "ntk": apply(k.ntk, 2),
        "cov1": apply(k.cov1, cov_ndim),
        "cov2": apply(k.cov2, cov_ndim),
    }
