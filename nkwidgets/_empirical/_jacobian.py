"""NTK by Jacobian contraction (implementation 1).

Both Jacobians ``df/dw`` are instantiated (reverse mode when the per-example
output is smaller than the parameter count, forward mode otherwise) and
contracted leaf by leaf over the parameter axes and the traced output axes.
Simplest and most robust; its cost is dominated by the contraction,
``N1 N2 O^2 P`` for ``O`` untraced outputs per example and ``P`` parameters.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, section 3.1.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from ._call import Prepared
from ._layout import OutputLayout, contract_outputs
from ._symmetric import block_axis, symmetric, take
from ._types import PyTree


def uses_forward_mode(prepared: Prepared, params: PyTree) -> bool:
    """Forward mode when a per-example output has more entries than there are parameters."""
    n_params = sum(math.prod(jnp.shape(v)) for v in jax.tree_util.tree_leaves(params))
    out = jax.tree_util.tree_leaves(prepared.fx)
    n_out = sum(math.prod(o.shape) for o in out) // max(prepared.batch_size(), 1)
    return n_out > n_params


def jacobians(prepared: Prepared, params: PyTree) -> PyTree:
    """``df/dw`` with the same tree as ``f(x)``, each leaf a tree like ``params``."""
    fwd = uses_forward_mode(prepared, params)

    def one(x: PyTree, kw: list[Any]) -> PyTree:
        fn = lambda p: prepared.f_ex(p, x, kw)  # noqa: E731
        return (jax.jacfwd if fwd else jax.jacrev)(fn)(params)

    return prepared.vmap(one, out_axes=prepared.fx_axes)(prepared.x, prepared.kw_leaves)


# Parameter leaves smaller than this are concatenated into one matmul: alone,
# their contraction would write the whole kernel for a few FLOPs per entry.
SMALL_LEAF = 4096


def _grouped(leaves: list[jax.Array], nd: int) -> list[jax.Array]:
    """Jacobian leaves as ``(*f(x).shape, P)`` matrices, small leaves concatenated."""
    flat = [w.reshape(*w.shape[:nd], -1) for w in leaves]
    small = [w for w in flat if w.shape[-1] < SMALL_LEAF]
    big = [w for w in flat if w.shape[-1] >= SMALL_LEAF]
    return big + ([jnp.concatenate(small, axis=-1)] if small else [])


def jacobian_ntk(
    p1: Prepared, p2: Prepared | None, params: PyTree, layouts: list[OutputLayout]
) -> list[jax.Array]:
    """Per output leaf, ``sum_w J1_w J2_w^T`` laid out by ``layouts`` (``p2=None``: ``x2 = x1``)."""
    j1 = jacobians(p1, params)
    j2 = j1 if p2 is None else jacobians(p2, params)
    out_tree = jax.tree_util.tree_structure(p1.fx)
    j1_leaves = out_tree.flatten_up_to(j1)
    j2_leaves = out_tree.flatten_up_to(j2)
    fx1 = jax.tree_util.tree_leaves(p1.fx)
    fx2 = jax.tree_util.tree_leaves((p2 or p1).fx)
    fx_axes = jax.tree_util.tree_leaves(p1.fx_axes, is_leaf=lambda a: a is None)
    results = []
    for a, b, o1, o2, layout, fx_axis in zip(
        j1_leaves, j2_leaves, fx1, fx2, layouts, fx_axes, strict=True
    ):
        nd = len(o1.shape)
        wa_leaves = _grouped(jax.tree_util.tree_leaves(a), nd)
        wb_leaves = _grouped(jax.tree_util.tree_leaves(b), nd)
        axis = block_axis(layout, o1.shape, fx_axis) if p2 is None else None

        def block(
            rows,
            cols,
            wa_leaves=wa_leaves,
            wb_leaves=wb_leaves,
            layout=layout,
            axis=axis,
        ):
            total = 0.0
            for wa, wb in zip(wa_leaves, wb_leaves, strict=True):
                if rows is not None:
                    wa, wb = take(wa, axis, rows), take(wb, axis, cols)
                total = total + contract_outputs(wa, wb, layout, 1, internal=True)
            return layout.to_kernel_order(total)

        if not wa_leaves:
            kernel = jnp.zeros(layout.kernel_shape(o1.shape, o2.shape), o1.dtype)
        elif axis is None:
            kernel = block(None, None)
        else:
            kernel = symmetric(block, layout, axis, o1.shape[axis])
        results.append(kernel / layout.trace_size(o1.shape))
    return results
