"""Symmetric kernels ``Theta(x, x)``: compute the upper block triangle, mirror the rest.

With ``x2=None`` the kernel is symmetric under swapping every side-1 index
with its side-2 index. Splitting one paired output axis (the example axis
when ``vmap_axes`` is set) into ``B`` blocks and computing only blocks
``i <= j`` does ``(B + 1) / (2 B)`` of the contraction work: 62.5 % for the
four blocks used from 128 examples on. All three implementations use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from ._layout import OutputLayout

# Below this many entries on the split axis the saved work does not pay for
# the extra, smaller matmuls.
MIN_BLOCK_AXIS = 32


def block_count(n: int) -> int:
    return 4 if n >= 4 * MIN_BLOCK_AXIS else 2 if n >= MIN_BLOCK_AXIS else 1


def block_axis(
    layout: OutputLayout, shape: Sequence[int], preferred: int | None
) -> int | None:
    """The output axis to split: the example axis if paired, else the largest paired one."""
    paired = [
        i
        for i in range(layout.ndim)
        if i not in layout.trace and i not in layout.diagonal
    ]
    if (
        preferred is not None
        and preferred in paired
        and block_count(shape[preferred]) > 1
    ):
        return preferred
    big = [i for i in paired if block_count(shape[i]) > 1]
    return max(big, key=lambda i: shape[i]) if big else None


def blocks(n: int) -> list[slice]:
    b = block_count(n)
    size = math.ceil(n / b)
    return [slice(k * size, min(n, (k + 1) * size)) for k in range(b) if k * size < n]


def swap_sides(x: jax.Array, layout: OutputLayout) -> jax.Array:
    """``Theta[j, i]`` from ``Theta[i, j]``: swap each side-1 axis with its side-2 axis."""
    labels = layout.out_labels()
    perm = []
    for lab in labels:
        if lab[0] == "o":
            perm.append(labels.index(("o", 3 - lab[1], lab[2])))
        else:
            perm.append(labels.index(lab))
    return jnp.transpose(x, perm)


def symmetric(
    compute: Callable[[slice, slice], jax.Array],
    layout: OutputLayout,
    axis: int,
    n: int,
) -> jax.Array:
    """Assemble ``Theta`` from ``compute(rows, cols)`` for block pairs ``rows <= cols``."""
    labels = layout.out_labels()
    pos1, pos2 = labels.index(("o", 1, axis)), labels.index(("o", 2, axis))
    parts = blocks(n)
    done = {
        (i, j): compute(parts[i], parts[j])
        for i in range(len(parts))
        for j in range(i, len(parts))
    }
    rows = []
    for i in range(len(parts)):
        row = [
            done[(i, j)] if i <= j else swap_sides(done[(j, i)], layout)
            for j in range(len(parts))
        ]
        rows.append(jnp.concatenate(row, axis=pos2))
    return jnp.concatenate(rows, axis=pos1)


def take(x: jax.Array, axis: int, part: slice) -> jax.Array:
    return jax.lax.slice_in_dim(x, part.start, part.stop, axis=axis)
