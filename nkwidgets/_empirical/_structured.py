r"""NTK by structured derivatives (implementation 3).

The NTK is a sum over parameter leaves ``w`` and over their uses ``y = L(w)``:

.. math::
   \Theta = \sum_w \sum_{y, y'} \frac{\partial f_1}{\partial y}
   \frac{\partial y}{\partial w} \frac{\partial y'}{\partial w}^T
   \frac{\partial f_2}{\partial y'}^T .

Here a *use* is where the chain of linear primitives starting at ``w`` ends
(see :mod:`._rules`): for a dense layer, ``y`` is the pre-activation after the
matmul and bias add, ``dy/dw`` is the input activation times an identity, and
the product above becomes ``(x1 x2^T) * (G1 G2^T)`` instead of a contraction
over all ``W`` entries. ``df/dy`` (``G``) comes from ``jax.vjp`` with respect to
zero probes added at each ``y``, so any primitive JAX differentiates may sit
between ``y`` and the output. A parameter whose first primitive has no rule is
probed at itself: ``dy/dw`` is the identity and its term is the plain Jacobian
contraction, so every function is supported and only speed depends on rules.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, sections 3.3 and 4.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._call import Prepared
from ._ir import Graph, Lit, build_graph, dependencies, evaluate
from ._linmap import LinMap
from ._patches import image_patches
from ._rules import RULES
from ._types import PyTree

# Dependency label of every input that varies across the mapped examples.
_MAPPED = -1


@dataclasses.dataclass(frozen=True)
class Use:
    """Parameter leaf ``param`` reaches the output through ``probe = L(w)``."""

    param: int
    probe: int
    lm: LinMap


@dataclasses.dataclass
class Plan:
    """Static structure of one call signature: graph, uses and what to keep.

    Attributes:
      graph: the flat per-example (or whole-batch) graph.
      n_params: number of parameter leaves (the first graph inputs).
      uses: per parameter leaf, its uses (empty for integer leaves).
      probes: graph ids where ``df/dy`` is taken.
      factor_keys: ``(ref, transform)`` of every factor array.
      mapped: factor keys whose values differ across mapped examples.
      fallbacks: parameter leaves whose first primitive had no rule (probed at
        the parameter itself, i.e. Jacobian contraction for that leaf), with the
        primitive names that stopped them.
    """

    graph: Graph
    n_params: int
    uses: list[list[Use]]
    probes: list[int]
    factor_keys: list[tuple[Any, tuple]]
    mapped: frozenset
    fallbacks: dict[int, tuple[str, ...]]


def _follow(
    graph: Graph, param: int, deps: dict[int, frozenset[int]], rules: dict
) -> tuple[list[Use], set[str]]:
    """Propagate the identity map of one parameter leaf through the rules."""
    start = graph.invars[param]
    outputs = {r for r in graph.outvars if not isinstance(r, Lit)}
    frontier = [(start, LinMap.identity(graph.shape(start)))]
    uses: list[Use] = []
    stopped: set[str] = set()
    while frontier:
        var, lm = frontier.pop()
        consumers = graph.consumers.get(var, [])
        if var in outputs:
            uses.append(Use(param, var, lm))
            continue
        nexts: list[tuple[int, LinMap]] | None = []
        for k, pos in consumers:
            node = graph.nodes[k]
            others = [r for j, r in enumerate(node.ins) if j != pos]
            tainted = any(
                not isinstance(r, Lit) and param in deps.get(r, ()) for r in others
            )
            rule = rules.get(node.name)
            out = None
            if rule is not None and not tainted and len(node.outs) == 1:
                out = rule(graph, node, pos, lm)
            if out is None:
                stopped.add(node.name)
                nexts = None
                break
            nexts.append((node.outs[0], out))
        if nexts is None:
            uses.append(Use(param, var, lm))
        else:
            frontier.extend(nexts)
    # Cross terms between uses need one labelling of w's axes; if reshapes
    # split them differently on different branches, probe w itself instead.
    if len({u.lm.w for u in uses}) > 1:
        uses = [Use(param, start, LinMap.identity(graph.shape(start)))]
        stopped.add("incompatible reshapes")
    return uses, stopped


# Rules that factor a matmul / convolution; the rest only move or scale values.
CONTRACTING = frozenset({"dot_general", "conv_general_dilated"})


def select_rules(j_rules: bool, s_rules: bool) -> dict:
    """``_s_rules=False``: no rules (Jacobian contraction through probes);
    ``_j_rules=False``: no matmul / convolution rules (their Jacobians come
    from autodiff, with the probe before them)."""
    if not s_rules:
        return {}
    if not j_rules:
        return {k: v for k, v in RULES.items() if k not in CONTRACTING}
    return dict(RULES)


def build_plan(
    prepared: Prepared,
    params: PyTree,
    rules: dict,
    identity: frozenset[int] = frozenset(),
) -> Plan:
    """Trace ``f_ex`` once for this signature and follow every parameter leaf.

    Leaves in ``identity`` are probed at themselves (no rules).
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    x_shapes, kw_shapes = prepared.example_shapes()

    def flat(leaves_: list[Any], x: PyTree, kw: list[Any]) -> PyTree:
        return prepared.f_ex(jax.tree_util.tree_unflatten(treedef, leaves_), x, kw)

    closed = jax.make_jaxpr(flat)(
        [jax.ShapeDtypeStruct(np.shape(v), jnp.result_type(v)) for v in leaves],
        x_shapes,
        kw_shapes,
    )
    graph = build_graph(closed)
    n = len(leaves)
    x_axes = jax.tree_util.tree_leaves(prepared.x_axes, is_leaf=lambda a: a is None)
    data_axes = [*x_axes, *prepared.kw_axes]
    sources = {graph.invars[i]: i for i in range(n)}
    sources.update(
        {graph.invars[n + j]: _MAPPED for j, a in enumerate(data_axes) if a is not None}
    )
    deps = dependencies(graph, sources)

    uses: list[list[Use]] = []
    fallbacks: dict[int, tuple[str, ...]] = {}
    for i, leaf in enumerate(leaves):
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            uses.append([])
            continue
        u, stopped = _follow(graph, i, deps, {} if i in identity else rules)
        uses.append(u)
        if any(use.probe == graph.invars[i] for use in u):
            fallbacks[i] = tuple(sorted(stopped))
    probes = sorted({u.probe for us in uses for u in us})
    keys = sorted(
        {
            (f.ref, f.transform)
            for us in uses
            for u in us
            for f in u.lm.factors
            if f.groups or not isinstance(f.ref, Lit)
        },
        key=repr,
    )
    mapped = frozenset(
        k for k in keys if not isinstance(k[0], Lit) and _MAPPED in deps.get(k[0], ())
    )
    return Plan(graph, n, uses, probes, keys, mapped, fallbacks)


def _rename(lm: LinMap, mapping: dict[int, int]) -> LinMap:
    def sub(groups: tuple) -> tuple:
        return tuple(tuple(mapping.get(a, a) for a in g) for g in groups)

    factors = tuple(dataclasses.replace(f, groups=sub(f.groups)) for f in lm.factors)
    sizes = {mapping.get(a, a): n for a, n in lm.sizes.items()}
    return dataclasses.replace(
        lm, y=sub(lm.y), w=sub(lm.w), factors=factors, sizes=sizes
    )


def align_uses(plan1: Plan, plan2: Plan) -> tuple[list[list[Use]], frozenset[int]]:
    """``plan2``'s uses with parameter atoms renamed to ``plan1``'s.

    Plans of two graphs (``x1`` and ``x2`` of different batch sizes, without
    ``vmap_axes``) label a parameter's axes independently; cross terms need one
    labelling. Returns the renamed uses and the leaves whose axes were split
    differently (callers re-plan those with ``identity``).
    """
    if plan1 is plan2:
        return plan1.uses, frozenset()
    out, bad = [], set()
    for i, (us1, us2) in enumerate(zip(plan1.uses, plan2.uses, strict=True)):
        if not us1 or not us2:
            out.append(list(us2))
            continue
        w1, w2 = us1[0].lm.w, us2[0].lm.w
        sizes1 = [[us1[0].lm.sizes[a] for a in g] for g in w1]
        sizes2 = [[us2[0].lm.sizes[a] for a in g] for g in w2]
        if sizes1 != sizes2:
            bad.add(i)
            out.append(list(us2))
            continue
        mapping = {
            b: a
            for g1, g2 in zip(w1, w2, strict=True)
            for a, b in zip(g1, g2, strict=True)
        }
        out.append([dataclasses.replace(u, lm=_rename(u.lm, mapping)) for u in us2])
    return out, frozenset(bad)


def transform_factor(value: Any, transform: tuple) -> Any:
    """The factor array a :class:`~._linmap.Factor` describes, from its graph value."""
    kind = transform[0]
    if kind == "id":
        return value
    if kind == "recip":
        return 1 / value
    if kind == "patches":
        return image_patches(value, **dict(transform[1]))
    raise ValueError(f"unknown factor transform {transform!r}")


@dataclasses.dataclass
class SideValues:
    """Runtime values of one side: ``G[leaf][probe]`` shaped ``(*f(x).shape, *y.shape)``, factors."""

    G: list[dict[int, jax.Array] | None]
    F: dict[tuple[Any, tuple], jax.Array]


def side_values(
    plan: Plan, prepared: Prepared, params: PyTree, fwd: bool | None
) -> SideValues:
    """``df/dy`` at every probe for every output entry, and the factor arrays."""
    graph = plan.graph
    leaves = jax.tree_util.tree_leaves(params)
    factor_refs = sorted({k[0] for k in plan.factor_keys if not isinstance(k[0], Lit)})
    n_out = len(graph.outvars)
    probe_total = sum(math.prod(graph.shape(p)) for p in plan.probes)

    def one(x: PyTree, kw: list[Any]) -> tuple[list[Any], dict]:
        inputs = [*leaves, *jax.tree_util.tree_leaves(x), *kw]
        zeros = {p: jnp.zeros(graph.shape(p), graph.dtype(p)) for p in plan.probes}

        def fp(pr: dict[int, Any]) -> tuple[list[Any], dict[int, Any]]:
            return evaluate(graph, inputs, pr, factor_refs)

        out_avals = [
            jax.ShapeDtypeStruct(graph.shape(r), graph.dtype(r)) for r in graph.outvars
        ]
        out_size = sum(math.prod(a.shape) for a in out_avals)
        use_fwd = fwd if fwd is not None else probe_total < out_size
        if use_fwd:
            G, kept = _forward_G(fp, zeros, plan.probes, graph, out_avals)
        else:
            G, kept = _reverse_G(fp, zeros, out_avals, n_out)
        F = {}
        for ref, transform in plan.factor_keys:
            value = ref.value if isinstance(ref, Lit) else kept[ref]
            F[(ref, transform)] = transform_factor(value, transform)
        return G, F

    if not prepared.batched:
        G, F = one(prepared.x, prepared.kw_leaves)
        return SideValues(G, F)
    f_axes = {k: (0 if k in plan.mapped else None) for k in plan.factor_keys}
    G, F = prepared.vmap(one, out_axes=(0, f_axes))(prepared.x, prepared.kw_leaves)
    fx_axes = jax.tree_util.tree_leaves(prepared.fx_axes, is_leaf=lambda a: a is None)
    G = [
        None if g is None else {p: jnp.moveaxis(v, 0, a) for p, v in g.items()}
        for g, a in zip(G, fx_axes, strict=True)
    ]
    return SideValues(G, F)


def _differentiable(aval: Any) -> bool:
    return jnp.issubdtype(aval.dtype, jnp.inexact)


def _reverse_G(fp, zeros, out_avals, n_out):
    outs, pull, kept = jax.vjp(fp, zeros, has_aux=True)
    G: list[Any] = []
    for leaf, aval in enumerate(out_avals):
        if not _differentiable(aval) or not zeros:
            G.append(None if not _differentiable(aval) else {})
            continue
        size = math.prod(aval.shape)
        basis = jnp.eye(size, dtype=aval.dtype).reshape(size, *aval.shape)

        def column(e: jax.Array, leaf: int = leaf) -> dict[int, jax.Array]:
            cts = [e if j == leaf else jnp.zeros_like(outs[j]) for j in range(n_out)]
            return pull(cts)[0]

        g = jax.vmap(column)(basis)
        G.append({p: v.reshape(*aval.shape, *v.shape[1:]) for p, v in g.items()})
    return G, kept


def _forward_G(fp, zeros, probes, graph, out_avals):
    sizes = [math.prod(graph.shape(p)) for p in probes]
    total = sum(sizes)
    eye = jnp.eye(total, dtype=out_avals[0].dtype if out_avals else jnp.float32)
    tangents, start = {}, 0
    for p, s in zip(probes, sizes, strict=True):
        tangents[p] = (
            eye[:, start : start + s]
            .reshape(total, *graph.shape(p))
            .astype(graph.dtype(p))
        )
        start += s

    def column(t: dict[int, jax.Array]) -> tuple[list[Any], dict]:
        _, dout, kept = jax.jvp(fp, (zeros,), (t,), has_aux=True)
        return dout, kept

    douts, kept = jax.vmap(column, out_axes=(0, None))(tangents)
    G: list[Any] = []
    for d, aval in zip(douts, out_avals, strict=True):
        if not _differentiable(aval):
            G.append(None)
            continue
        g, start = {}, 0
        for p, s in zip(probes, sizes, strict=True):
            block = d[start : start + s].reshape(*graph.shape(p), *aval.shape)
            nd = len(graph.shape(p))
            g[p] = jnp.moveaxis(block, tuple(range(nd)), tuple(range(-nd, 0)))
            start += s
        G.append(g)
    return G, kept
