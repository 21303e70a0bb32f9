"""Layout of empirical kernels: which output axes are traced, kept on the diagonal, or paired.

Neural Tangents' convention, shared by every implementation here: the kernel of
outputs shaped ``(N1, X, Y)`` and ``(N2, X, Y)`` is shaped "almost"
``zip(f(x1).shape, f(x2).shape)``, i.e. ``(N1, N2, X, X, Y, Y)``, except that
``trace_axes`` are summed over pairwise (and divided by their size) and
``diagonal_axes`` appear once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import opt_einsum

from ._types import Axes, canonicalize_axes


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Labels of the output axes of ``f(x1)`` / ``f(x2)`` and of their kernel.

    Labels are hashable tokens: ``("t", i)`` traced (shared, summed),
    ``("d", i)`` diagonal (shared, kept once), ``("o", side, i)`` paired.
    """

    ndim: int
    trace: tuple[int, ...]
    diagonal: tuple[int, ...]

    @staticmethod
    def make(ndim: int, trace_axes: Axes, diagonal_axes: Axes) -> OutputLayout:
        trace = canonicalize_axes(trace_axes, ndim)
        diagonal = canonicalize_axes(diagonal_axes, ndim)
        both = set(trace) & set(diagonal)
        if both:
            raise ValueError(
                f"output axes {sorted(both)} are in both `trace_axes` and "
                f"`diagonal_axes`; an axis is either summed over or kept on the "
                f"diagonal. Fix: list each axis in at most one of them."
            )
        return OutputLayout(ndim, trace, diagonal)

    def label(self, side: int, i: int) -> tuple:
        if i in self.trace:
            return ("t", i)
        if i in self.diagonal:
            return ("d", i)
        return ("o", side, i)

    def labels(self, side: int) -> list[tuple]:
        return [self.label(side, i) for i in range(self.ndim)]

    def out_labels(self) -> list[tuple]:
        out: list[tuple] = []
        for i in range(self.ndim):
            if i in self.trace:
                continue
            if i in self.diagonal:
                out.append(("d", i))
            else:
                out += [("o", 1, i), ("o", 2, i)]
        return out

    def internal_labels(self) -> list[tuple]:
        """Side-1 axes, then side-2 paired axes: the order a matmul of the two
        sides produces, so that terms are summed without per-term transposes."""
        first = [self.label(1, i) for i in range(self.ndim) if i not in self.trace]
        second = [
            ("o", 2, i)
            for i in range(self.ndim)
            if i not in self.trace and i not in self.diagonal
        ]
        return first + second

    def to_kernel_order(self, x: jax.Array) -> jax.Array:
        """Transpose an array in :meth:`internal_labels` order to :meth:`out_labels` order."""
        internal = self.internal_labels()
        return jnp.transpose(x, [internal.index(lab) for lab in self.out_labels()])

    def kernel_shape(
        self, shape1: Sequence[int], shape2: Sequence[int]
    ) -> tuple[int, ...]:
        self.check(shape1, shape2)
        out: list[int] = []
        for i in range(self.ndim):
            if i in self.trace:
                continue
            out += [shape1[i]] if i in self.diagonal else [shape1[i], shape2[i]]
        return tuple(out)

    def trace_size(self, shape1: Sequence[int]) -> int:
        return math.prod(shape1[i] for i in self.trace)

    def check(self, shape1: Sequence[int], shape2: Sequence[int]) -> None:
        if len(shape1) != len(shape2):
            raise ValueError(
                f"`f(x1)` has shape {tuple(shape1)} but `f(x2)` has shape "
                f"{tuple(shape2)}: outputs must have the same number of axes."
            )
        for i in (*self.trace, *self.diagonal):
            if shape1[i] != shape2[i]:
                raise ValueError(
                    f"`f(x1)` {tuple(shape1)} and `f(x2)` {tuple(shape2)} differ on "
                    f"axis {i}, which is in `trace_axes` or `diagonal_axes`; these "
                    f"axes must match. Fix: use equal sizes or drop the axis from them."
                )


class Symbols:
    """Maps hashable labels to einsum symbols."""

    def __init__(self) -> None:
        self._map: dict[object, str] = {}

    def __call__(self, labels: Sequence[object]) -> str:
        out = []
        for label in labels:
            if label not in self._map:
                self._map[label] = opt_einsum.get_symbol(len(self._map))
            out.append(self._map[label])
        return "".join(out)


def contract_outputs(
    out1: jax.Array,
    out2: jax.Array,
    layout: OutputLayout,
    extra: int = 0,
    internal: bool = False,
) -> jax.Array:
    """``sum`` over trailing ``extra`` axes and traced axes of ``out1 x out2``, laid out as the kernel.

    With ``extra = 0`` this is the empirical NNGP of one output leaf (before
    dividing by the traced size); with the parameter axes as ``extra`` it is the
    Jacobian contraction of one parameter leaf.
    """
    sym = Symbols()
    tail1 = [("p", k) for k in range(extra)]
    tail2 = [("p", k) for k in range(extra)]
    out = layout.internal_labels() if internal else layout.out_labels()
    spec = (
        f"{sym(layout.labels(1) + tail1)},{sym(layout.labels(2) + tail2)}->{sym(out)}"
    )
    return jnp.einsum(spec, out1, out2)


def trace_and_diagonal(full: jax.Array, layout: OutputLayout) -> jax.Array:
    """Take traces / diagonals of a full kernel shaped ``(*shape1, *shape2)``."""
    sym = Symbols()
    spec = f"{sym(layout.labels(1) + layout.labels(2))}->{sym(layout.out_labels())}"
    return jnp.einsum(spec, full)
