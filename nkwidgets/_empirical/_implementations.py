"""The three NTK implementations behind one call interface.

:func:`make_call` canonicalises one ``ntk_fn(x1, x2, params, **kwargs)`` call
(kwargs split between the sides, ``vmap_axes`` read, output layouts fixed);
``run`` evaluates it with the chosen implementation. Structured-derivative
plans are cached per call signature by :class:`PlanCache`, so AUTO's estimate
and the computation trace the function once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._call import Prepared, prepare
from ._contract import plan_contraction, run_contraction
from ._ir import activation_bytes
from ._jacobian import jacobian_ntk
from ._layout import OutputLayout
from ._ntk_vector import ntk_vector_ntk
from ._structured import (
    Plan,
    SideValues,
    align_uses,
    build_plan,
    select_rules,
    side_values,
)
from ._symmetric import block_axis, blocks, symmetric, take
from ._types import Axes, NtkImplementation, PyTree, split_kwargs


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything fixed when ``empirical_ntk_fn`` is called."""

    trace_axes: Axes
    diagonal_axes: Axes
    vmap_axes: Any
    j_rules: bool = True
    s_rules: bool = True
    fwd: bool | None = None


@dataclasses.dataclass
class KernelCall:
    """One kernel call in canonical form (``p2 is None`` means ``x2 = x1``)."""

    p1: Prepared
    p2: Prepared | None
    params: PyTree
    layouts: list[OutputLayout]
    out_tree: Any


def make_call(
    f: Any,
    x1: PyTree,
    x2: PyTree | None,
    params: PyTree,
    kwargs: dict[str, Any],
    opts: Options,
) -> KernelCall:
    kw1, kw2 = split_kwargs(kwargs, x1, x2)
    p1, spec = prepare(f, params, x1, kw1, opts.vmap_axes)
    p2 = None if x2 is None else prepare(f, params, x2, kw2, opts.vmap_axes, spec)[0]
    fx1 = jax.tree_util.tree_leaves(p1.fx)
    fx2 = jax.tree_util.tree_leaves((p2 or p1).fx)
    layouts = []
    for a, b in zip(fx1, fx2, strict=True):
        layout = OutputLayout.make(len(a.shape), opts.trace_axes, opts.diagonal_axes)
        layout.check(a.shape, b.shape)
        layouts.append(layout)
    return KernelCall(p1, p2, params, layouts, jax.tree_util.tree_structure(p1.fx))


def _signature(prepared: Prepared, params: PyTree) -> Any:
    """Hashable description of what a plan depends on (shapes, dtypes, trees, axes)."""
    xs, kws = prepared.example_shapes()

    def sd(tree: PyTree) -> Any:
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        return treedef, tuple(
            (tuple(np.shape(v)), str(jnp.result_type(v))) for v in leaves
        )

    axes = jax.tree_util.tree_leaves(
        (prepared.x_axes, prepared.fx_axes), is_leaf=lambda a: a is None
    )
    return (
        sd(params),
        sd(xs),
        sd(kws),
        tuple(axes),
        tuple(prepared.kw_axes),
        prepared.batched,
    )


class PlanCache:
    """Structured-derivative plans by call signature (one ``ntk_fn``'s lifetime)."""

    def __init__(self, opts: Options) -> None:
        self._rules = select_rules(opts.j_rules, opts.s_rules)
        self._plans: dict[Any, Plan] = {}

    def plan(
        self, prepared: Prepared, params: PyTree, identity: frozenset[int] = frozenset()
    ) -> Plan:
        try:
            key = (_signature(prepared, params), identity)
            hash(key)
        except TypeError:  # unhashable static kwargs: plan afresh
            return build_plan(prepared, params, self._rules, identity)
        if key not in self._plans:
            self._plans[key] = build_plan(prepared, params, self._rules, identity)
        return self._plans[key]

    def plans(self, call: KernelCall) -> tuple[Plan, Plan, list]:
        """Plans of both sides with ``plan2``'s parameter atoms aligned to ``plan1``'s."""
        plan1 = self.plan(call.p1, call.params)
        plan2 = plan1 if call.p2 is None else self.plan(call.p2, call.params)
        if plan2 is not plan1 and _signature(call.p1, call.params) == _signature(
            call.p2, call.params
        ):
            plan2 = plan1
        uses2, bad = align_uses(plan1, plan2)
        if bad:
            plan1 = self.plan(call.p1, call.params, bad)
            plan2 = self.plan(call.p2, call.params, bad)
            uses2, _ = align_uses(plan1, plan2)
        return plan1, plan2, uses2


def fx_axes(prepared: Prepared) -> list[int | None]:
    return jax.tree_util.tree_leaves(prepared.fx_axes, is_leaf=lambda a: a is None)


def _block_shape(
    shape: tuple[int, ...], axis: int | None, part: slice | None
) -> tuple[int, ...]:
    if part is None:
        return shape
    return shape[:axis] + (part.stop - part.start,) + shape[axis + 1 :]


def contractions(call: KernelCall, plans: tuple[Plan, Plan, list]) -> list[list]:
    """Per output leaf, the contraction plans of every block pair it is computed in."""
    plan1, plan2, uses2 = plans
    fx1 = jax.tree_util.tree_leaves(call.p1.fx)
    fx2 = jax.tree_util.tree_leaves((call.p2 or call.p1).fx)
    out = []
    for layout, a, b, fx_axis in zip(
        call.layouts, fx1, fx2, fx_axes(call.p1), strict=True
    ):
        axis = block_axis(layout, a.shape, fx_axis) if call.p2 is None else None
        pairs = [(None, None)]
        if axis is not None:
            parts = blocks(a.shape[axis])
            pairs = [
                (parts[i], parts[j])
                for i in range(len(parts))
                for j in range(i, len(parts))
            ]
        out.append(
            [
                (
                    rows,
                    cols,
                    axis,
                    plan_contraction(
                        plan1,
                        plan2,
                        uses2,
                        layout,
                        _block_shape(a.shape, axis, rows),
                        _block_shape(b.shape, axis, cols),
                        fx_axis,
                    ),
                )
                for rows, cols in pairs
            ]
        )
    return out


def _slice_side(
    sv: SideValues, plan: Plan, leaf: int, axis: int, part: slice, fx_axis: int | None
) -> SideValues:
    g = {p: take(v, axis, part) for p, v in (sv.G[leaf] or {}).items()}
    G = [g if k == leaf else None for k in range(len(sv.G))]
    # Mapped factors carry the example axis first; it is the split axis only
    # when the split axis is the example axis.
    F = {
        k: take(v, 0, part) if (k in plan.mapped and axis == fx_axis) else v
        for k, v in sv.F.items()
    }
    return SideValues(G, F)


def _structured_leaf(
    leaf: int,
    blocks_: list,
    sv1: SideValues,
    sv2: SideValues,
    plans,
    layout,
    dtype,
    fx_axis,
) -> jax.Array:
    if len(blocks_) == 1 and blocks_[0][0] is None:
        return run_contraction(blocks_[0][3], leaf, sv1, sv2, dtype)
    by_pair = {(r.start, c.start): c_plan for r, c, _, c_plan in blocks_}
    axis = blocks_[0][2]

    def compute(rows: slice, cols: slice) -> jax.Array:
        s1 = _slice_side(sv1, plans[0], leaf, axis, rows, fx_axis)
        s2 = _slice_side(sv2, plans[1], leaf, axis, cols, fx_axis)
        return run_contraction(by_pair[(rows.start, cols.start)], leaf, s1, s2, dtype)

    n = blocks_[-1][1].stop
    return symmetric(compute, layout, axis, n)


def run(
    impl: NtkImplementation, call: KernelCall, cache: PlanCache, opts: Options
) -> PyTree:
    """The NTK of ``call`` by implementation ``impl`` (1, 2 or 3)."""
    if impl == NtkImplementation.JACOBIAN_CONTRACTION:
        leaves = jacobian_ntk(call.p1, call.p2, call.params, call.layouts)
    elif impl == NtkImplementation.NTK_VECTOR_PRODUCTS:
        plan1 = cache.plan(call.p1, call.params)
        act = activation_bytes(plan1.graph) * (
            call.p1.batch_size() if call.p1.batched else 1
        )
        leaves = ntk_vector_ntk(call.p1, call.p2, call.params, call.layouts, act)
    elif impl == NtkImplementation.STRUCTURED_DERIVATIVES:
        plans = cache.plans(call)
        sv1 = side_values(plans[0], call.p1, call.params, opts.fwd)
        sv2 = (
            sv1
            if call.p2 is None
            else side_values(plans[1], call.p2, call.params, opts.fwd)
        )
        fx1 = jax.tree_util.tree_leaves(call.p1.fx)
        axes = fx_axes(call.p1)
        leaves = [
            _structured_leaf(
                k, b, sv1, sv2, plans, call.layouts[k], fx1[k].dtype, axes[k]
            )
            for k, b in enumerate(contractions(call, plans))
        ]
    else:
        raise ValueError(f"`implementation={impl!r}` is not 1, 2 or 3 here.")
    return jax.tree_util.tree_unflatten(call.out_tree, leaves)
