"""Where each output leaf of a block goes in a batched kernel's full result.

A kernel function's output is a pytree (a ``Kernel``, NT's get-namedtuple, an
array, or a user's tree); its array leaves are indexed ``(x1, x2, ...)``
except ``cov1``/``mask1`` (``x1`` only) and ``cov2``/``mask2`` (``x2`` only).
Blocks are cropped into host arrays of the full size, and ``Kernel`` facts
that depend on the batch (shapes, ``x1_is_x2``) are set for the whole.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..errors import NKError
from ..kernels._kernel import Kernel

_ROWS_ONLY = ("cov1", "mask1")
_COLS_ONLY = ("cov2", "mask2")


class OutputLayout:
    """Where each output leaf of a block goes in the full result."""

    def __init__(self, out_info: Any, n1: int, n2: int, b1: int, b2: int):
        self.n1, self.n2, self.b1, self.b2 = n1, n2, b1, b2
        # out_info leaves carry the wave axis first; drop it.
        flat, self.treedef = jax.tree_util.tree_flatten_with_path(out_info)
        self.roles: list[str] = []
        self.shapes: list[tuple[int, ...]] = []
        self.dtypes: list[np.dtype] = []
        for path, info in flat:
            name = (
                getattr(path[-1], "name", getattr(path[-1], "key", None))
                if path
                else None
            )
            shape = tuple(info.shape[1:])
            role = "1" if name in _ROWS_ONLY else "2" if name in _COLS_ONLY else "12"
            expected = {"1": (b1,), "2": (b2,), "12": (b1, b2)}[role]
            if shape[: len(expected)] != expected:
                where = jax.tree_util.keystr(path) or "the output"
                raise NKError(
                    f"batch: {where} of a block has shape {shape}, but a batched "
                    f"kernel_fn must return arrays indexed (x1, x2, ...) = {expected} "
                    "first. Fix: return per-pair values, or call kernel_fn unbatched."
                )
            full = {"1": (n1,), "2": (n2,), "12": (n1, n2)}[role] + shape[
                len(expected) :
            ]
            self.roles.append(role)
            self.shapes.append(full)
            self.dtypes.append(np.dtype(info.dtype))

    @property
    def result_bytes(self) -> int:
        return sum(
            int(np.prod(s)) * d.itemsize
            for s, d in zip(self.shapes, self.dtypes, strict=True)
        )

    def empty(self) -> list[np.ndarray]:
        return [np.empty(s, d) for s, d in zip(self.shapes, self.dtypes, strict=True)]

    @property
    def transposable(self) -> bool:
        """Whether every (x1, x2) leaf is a plain matrix, so a block of a
        symmetric kernel also gives its mirror block by transposition."""
        return all(
            len(s) == 2
            for s, role in zip(self.shapes, self.roles, strict=True)
            if role == "12"
        )

    def place(
        self, result: list[np.ndarray], out: Any, r: int, c: int, mirror: bool = False
    ) -> None:
        """Crop block ``out`` into ``result`` at rows ``r``, columns ``c``.

        ``mirror``: the kernel is symmetric and only blocks on or above the
        diagonal run; this one also fills its transpose, and per-row outputs
        (``cov1``) come from the diagonal blocks.
        """
        rows, cols = min(self.b1, self.n1 - r), min(self.b2, self.n2 - c)
        for target, value, role in zip(
            result, jax.tree.leaves(out), self.roles, strict=True
        ):
            if role == "12":
                target[r : r + rows, c : c + cols] = value[:rows, :cols]
                if mirror and r != c:
                    target[c : c + cols, r : r + rows] = np.asarray(
                        value[:rows, :cols]
                    ).T
            elif role == "1" and (r == c if mirror else c == 0):
                target[r : r + rows] = value[:rows]
            elif role == "2" and (r == c if mirror else r == 0):
                target[c : c + cols] = value[:cols]

    def finish(self, result: list[np.ndarray], x2_is_none: bool) -> Any:
        tree = jax.tree.unflatten(self.treedef, result)

        def fix(k: Any) -> Any:
            if isinstance(k, Kernel):
                if not k.diagonal_batch:
                    raise NKError(
                        "batch: kernels with `diagonal_batch=False` (full (n, n) "
                        "covariances per example) cannot be batched, as in Neural "
                        "Tangents. Fix: call kernel_fn unbatched."
                    )
                return k.replace(
                    shape1=_with_batch(k.shape1, k.batch_axis, self.n1),
                    shape2=_with_batch(k.shape2, k.batch_axis, self.n2),
                    cov2=None if x2_is_none else k.cov2,
                    mask2=None if x2_is_none else k.mask2,
                    x1_is_x2=x2_is_none,
                )
            if x2_is_none and hasattr(k, "_fields") and "cov2" in k._fields:
                return k._replace(cov2=None)
            return k

        is_leaf = lambda v: isinstance(v, Kernel) or hasattr(v, "_fields")  # noqa: E731
        return jax.tree.map(fix, tree, is_leaf=is_leaf)


def _with_batch(shape: tuple[int, ...], axis: int, n: int) -> tuple[int, ...]:
    if not shape:
        return shape
    shape = list(shape)
    shape[axis] = n
    return tuple(shape)
