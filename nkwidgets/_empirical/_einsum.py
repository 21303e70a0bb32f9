"""Labelled einsums: operands, contraction paths from ``opt_einsum``, and their execution.

An :class:`Einsum` is planned once per call signature (path, FLOPs, largest
intermediate) and run on arrays looked up by operand key. Execution follows
the path pairwise: contractions go to ``jnp.einsum`` (``dot_general``), while
steps that sum no shared label are plain broadcasting products laid out like
the larger operand, so the big ``df/dy`` products are never transposed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import opt_einsum

from ._layout import Symbols


@dataclasses.dataclass(frozen=True)
class Operand:
    """An einsum operand: ``G`` at a probe or a factor array, of one side."""

    side: int
    kind: str  # "G" or "F"
    key: Any  # probe id or factor key
    labels: tuple
    shape: tuple[int, ...]


@dataclasses.dataclass
class Einsum:
    """One einsum with its contraction path and cost.

    Labels found in a single operand and not in the output are summed out of
    that operand first (e.g. a bias's ``df/dy`` over spatial positions):
    ``opt_einsum`` would otherwise price them as part of an outer product.
    """

    operands: list[Operand]
    out: list
    coef: float
    scalars: list[tuple[int, Any]]  # runtime scalar factors (side, key)
    path: list
    flops: float
    largest: int  # elements of the largest intermediate
    reduce: list[tuple[int, ...]] = dataclasses.field(default_factory=list)

    @staticmethod
    def make(operands: list[Operand], out: list, coef: float, scalars: list) -> Einsum:
        counts: dict = {}
        for o in operands:
            for label in set(o.labels):
                counts[label] = counts.get(label, 0) + 1
        keep_out = set(out)
        reduce, shapes, pre = [], [], 0.0
        for o in operands:
            axes = tuple(
                i
                for i, lab in enumerate(o.labels)
                if counts[lab] == 1 and lab not in keep_out
            )
            reduce.append(axes)
            if axes:
                pre += math.prod(o.shape)
            shapes.append(tuple(n for i, n in enumerate(o.shape) if i not in axes))
        spec = _spec(operands, reduce, out)
        if len(operands) == 1:
            size = math.prod(shapes[0])
            return Einsum(
                operands, out, coef, scalars, [(0,)], pre + size, size, reduce
            )
        strategy = "optimal" if len(operands) <= 6 else "dp"
        path, info = opt_einsum.contract_path(
            spec, *shapes, shapes=True, optimize=strategy
        )
        return Einsum(
            operands,
            out,
            coef,
            scalars,
            path,
            pre + float(info.opt_cost),
            int(info.largest_intermediate),
            reduce,
        )

    def run(
        self,
        values: dict[tuple[int, str, Any], jax.Array],
        sides: dict[int, Any],
        out: list | None = None,
        free_after: int | None = None,
    ) -> jax.Array:
        """The result laid out as ``out`` (default ``self.out``).

        With ``free_after=k``, the labels ``out[k:]`` stay in the order the
        contraction produced them (see :meth:`run_free_tail`).
        """
        return self.run_free_tail(values, sides, out, free_after)[1]

    def run_free_tail(
        self,
        values: dict[tuple[int, str, Any], jax.Array],
        sides: dict[int, Any],
        out: list | None = None,
        free_after: int | None = None,
    ) -> tuple[list, jax.Array]:
        """``(labels, result)``; labels after ``free_after`` in contraction order.

        A Jacobian block's ``w`` axes are only summed against the other side's,
        so any order serves if both sides agree: keeping the order
        ``dot_general`` produced saves a transposing copy of the block, the
        largest array of a convolution's NTK.
        """
        out = self.out if out is None else out
        arrays = []
        for o, axes in zip(self.operands, self.reduce, strict=True):
            a = values[(o.side, o.kind, o.key)].reshape(o.shape)
            arrays.append(jnp.sum(a, axis=axes) if axes else a)
        labels = [
            tuple(lab for i, lab in enumerate(o.labels) if i not in axes)
            for o, axes in zip(self.operands, self.reduce, strict=True)
        ]
        # Scale the smallest operand, not the result: on a convolution's
        # Jacobian block the result is the largest array of the whole NTK, and
        # scaling it was a full extra pass over memory (~15% of the CNN case).
        scale = None
        for side, key in self.scalars:
            f = sides[side].F[key].reshape(())
            scale = f if scale is None else scale * f
        if self.coef != 1.0:
            scale = self.coef if scale is None else scale * self.coef
        if scale is not None:
            k = min(range(len(arrays)), key=lambda i: arrays[i].size)
            arrays[k] = arrays[k] * scale
        return execute(
            list(zip(labels, arrays, strict=True)), self.path, out, free_after
        )


def _pair(
    a: tuple[tuple, jax.Array], b: tuple[tuple, jax.Array], needed: set
) -> tuple[tuple, jax.Array]:
    """Contract two labelled arrays, keeping ``needed`` labels; ``a``'s layout leads."""
    (la, x), (lb, y) = a, b
    if x.size < y.size:
        (la, x), (lb, y) = (lb, y), (la, x)
    out = tuple(lab for lab in la if lab in needed) + tuple(
        lab for lab in lb if lab in needed and lab not in la
    )
    contracted = (set(la) & set(lb)) - needed
    if contracted:
        sym = Symbols()
        return out, jnp.einsum(f"{sym(la)},{sym(lb)}->{sym(out)}", x, y)
    # No shared label is summed: an elementwise product. Broadcasting keeps the
    # larger operand's layout; einsum would route it through dot_general and
    # transpose the large operand twice.
    x = _sum_except(la, x, needed)
    lb_kept = tuple(lab for lab in lb if lab in needed)
    y = _sum_except(lb, y, needed)
    order = sorted(range(len(lb_kept)), key=lambda k: out.index(lb_kept[k]))
    y = jnp.transpose(y, order)
    shape = [1] * len(out)
    for k in order:
        shape[out.index(lb_kept[k])] = y.shape[order.index(k)]
    x_shape = [1] * len(out)
    for k, lab in enumerate(lab for lab in la if lab in needed):
        x_shape[out.index(lab)] = x.shape[k]
    return out, x.reshape(x_shape) * y.reshape(shape)


def _sum_except(labels: tuple, x: jax.Array, needed: set) -> jax.Array:
    axes = tuple(i for i, lab in enumerate(labels) if lab not in needed)
    return jnp.sum(x, axis=axes) if axes else x


def execute(
    operands: list[tuple[tuple, jax.Array]],
    path: list,
    out: list,
    free_after: int | None = None,
) -> tuple[list, jax.Array]:
    """Run an ``opt_einsum`` path pairwise, then lay the result out as ``out``.

    Returns ``(labels, result)``: ``out``, except that with ``free_after=k``
    the labels ``out[k:]`` keep the order the last contraction left them in.
    """
    ops = list(operands)
    for step in path:
        picked = [ops[i] for i in step]
        for i in sorted(step, reverse=True):
            del ops[i]
        needed = set(out).union(*(set(lab) for lab, _ in ops))
        acc = picked[0]
        if len(picked) == 1:
            acc = (
                tuple(lab for lab in acc[0] if lab in needed),
                _sum_except(*acc, needed),
            )
        for other in picked[1:]:
            rest = set().union(
                *(
                    set(lab)
                    for lab, _ in picked
                    if lab is not other[0] and lab is not acc[0]
                )
            )
            acc = _pair(acc, other, needed | rest)
        ops.append(acc)
    (labels, x), *more = ops
    assert not more
    x = _sum_except(labels, x, set(out))
    labels = tuple(lab for lab in labels if lab in out)
    if free_after is not None:
        fixed = list(out[:free_after])
        out = fixed + [lab for lab in labels if lab not in fixed]
    return list(out), jnp.transpose(x, [labels.index(lab) for lab in out])


def _spec(operands: list[Operand], reduce: list[tuple[int, ...]], out: list) -> str:
    sym = Symbols()
    ins = [
        sym([lab for i, lab in enumerate(o.labels) if i not in axes])
        for o, axes in zip(operands, reduce, strict=True)
    ]
    return ",".join(ins) + "->" + sym(out)
