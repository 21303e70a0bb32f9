"""Axis bookkeeping: NT's zipped kernel layout and the trace axes of outputs.

A kernel between outputs of shape ``(N1, *S1)`` and ``(N2, *S2)`` (trace axes
removed) has the *zipped* shape ``(N1, N2, S1[0], S2[0], ...)``. Linear algebra
wants it as an ``(N1 * prod(S1), N2 * prod(S2))`` matrix, and outputs as an
``(N * prod(S), C)`` matrix whose ``C = prod(trace shape)`` columns share the
kernel (the kernel is ``Theta ⊗ I`` along the trace axes).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ._types import Axes


def unzip_axes(x: jax.Array, start: int = 0) -> jax.Array:
    """``[..., A, A', B, B', ...] -> [..., A, B, ..., A', B', ...]`` from `start`."""
    half = (x.ndim - start) // 2
    perm = (
        tuple(range(start))
        + tuple(start + 2 * i for i in range(half))
        + tuple(start + 2 * i + 1 for i in range(half))
    )
    return jnp.transpose(x, perm)


def zip_axes(x: jax.Array, start: int = 0) -> jax.Array:
    """``[..., A, B, ..., A', B', ...] -> [..., A, A', B, B', ...]`` from `start`."""
    half = (x.ndim - start) // 2
    perm = tuple(range(start))
    for i in range(half):
        perm += (start + i, start + half + i)
    return jnp.transpose(x, perm)


def make_2d(k: jax.Array) -> jax.Array:
    """Zipped kernel ``(N1, N2, S1, S2, ...)`` -> matrix ``(N1*S1*..., N2*S2*...)``."""
    if k.ndim % 2:
        raise ValueError(
            f"A kernel has an even number of axes (pairs of zipped axes); got "
            f"shape {k.shape}."
        )
    k = unzip_axes(k)
    rows = math.prod(k.shape[: k.ndim // 2])
    return k.reshape(rows, -1)


def canonicalize_axes(axes: Axes, ndim: int) -> tuple[int, ...]:
    """Sorted non-negative axes; raises on out-of-range or repeated entries."""
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"`trace_axes` entry {a} is out of range for outputs with {ndim} axes."
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"`trace_axes` repeats an axis: {axes}.")
    return tuple(sorted(out))


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Where the trace axes sit in the network outputs, and how big they are.

    Hashable, so jitted functions take it as a static argument.
    """

    ndim: int
    """Number of axes of one output array, e.g. 2 for ``(N, C)``."""
    trace_axes: tuple[int, ...]
    """Non-negative, sorted trace axes."""
    trace_shape: tuple[int, ...]
    """Sizes of the trace axes, in order."""

    @classmethod
    def of(cls, y_shape: Sequence[int], trace_axes: Axes) -> OutputLayout:
        """The layout of outputs shaped like `y_shape`."""
        axes = canonicalize_axes(trace_axes, len(y_shape))
        return cls(len(y_shape), axes, tuple(y_shape[a] for a in axes))

    @property
    def n_channels(self) -> int:
        """Number of output columns sharing one kernel (``prod(trace_shape)``)."""
        return math.prod(self.trace_shape)

    def non_trace_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """`shape` (one output's shape) without its trace axes."""
        return tuple(s for i, s in enumerate(shape) if i not in self.trace_axes)

    def output_shape(self, non_trace_shape: Sequence[int]) -> tuple[int, ...]:
        """Insert the trace axes back into a non-trace shape."""
        shape = list(non_trace_shape)
        for a, size in zip(self.trace_axes, self.trace_shape, strict=True):
            shape.insert(a, size)
        return tuple(shape)

    def flatten(self, y: jax.Array) -> jax.Array:
        """``(*lead, *output shape) -> (*lead, N * prod(S), C)``."""
        lead = y.ndim - self.ndim
        k = len(self.trace_axes)
        y = jnp.moveaxis(
            y, [lead + a for a in self.trace_axes], list(range(y.ndim - k, y.ndim))
        )
        return y.reshape(y.shape[:lead] + (-1, self.n_channels))

    def unflatten(self, flat: jax.Array, non_trace_shape: Sequence[int]) -> jax.Array:
        """Inverse of `flatten` for outputs whose non-trace shape is given."""
        lead = flat.shape[:-2]
        y = flat.reshape(lead + tuple(non_trace_shape) + self.trace_shape)
        k = len(self.trace_axes)
        return jnp.moveaxis(
            y,
            list(range(y.ndim - k, y.ndim)),
            [len(lead) + a for a in self.trace_axes],
        )

    def check_kernel(
        self,
        k: jax.Array,
        name: str,
        *,
        rows: Sequence[int] | None,
        cols: Sequence[int],
    ) -> None:
        """Raise unless `k` is the zipped kernel between the given non-trace shapes.

        Args:
          k: the kernel.
          name: argument name for the message.
          rows: non-trace shape of the first argument's outputs, or ``None`` to
            accept any.
          cols: non-trace shape of the second argument's outputs.
        """
        n = self.ndim - len(self.trace_axes)
        ok = k.ndim == 2 * n and tuple(k.shape[1::2]) == tuple(cols)
        if rows is not None:
            ok = ok and tuple(k.shape[::2]) == tuple(rows)
        if not ok:
            first = rows if rows is not None else ("n",) * len(cols)
            want = ", ".join(f"{r}, {c}" for r, c in zip(first, cols, strict=True))
            raise ValueError(
                f"`{name}` has shape {tuple(k.shape)}, but outputs of shape "
                f"{self.output_shape(cols)} with `trace_axes={self.trace_axes}` need "
                f"a zipped kernel of shape ({want}): one pair of axes per non-trace "
                f"output axis, trace axes left out."
            )
