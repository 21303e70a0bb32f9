"""A flat graph of a function's jaxpr, evaluated with additive probes.

Structured derivatives need two things JAX does not expose directly: which
primitives consume each parameter (and through which linear steps), and the
cotangent of the network output with respect to chosen intermediate values.
Both come from one flat graph: ``jit`` / ``closed_call`` sub-jaxprs are inlined
so a parameter is followed into library functions, every value gets an integer
id, and :func:`evaluate` re-runs the graph with a zero "probe" added to chosen
values. ``jax.vjp`` with respect to the probes then gives ``df/dy`` for those
values, through any primitive JAX can differentiate.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, section 3.3.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.extend import core as jex_core

# Call-like primitives whose body is inlined, so that a parameter passed into
# e.g. a jitted `jnp` helper is still followed primitive by primitive.
_INLINED = frozenset({"jit", "pjit", "closed_call", "core_call"})


@dataclasses.dataclass(frozen=True)
class Lit:
    """A literal operand (a Python / NumPy constant baked into the jaxpr)."""

    value: Any


Ref = int | Lit


@dataclasses.dataclass(frozen=True, eq=False)
class Node:
    """One primitive application: ``outs = prim.bind(*ins, **params)``."""

    prim: Any
    params: dict[str, Any]
    ins: tuple[Ref, ...]
    outs: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.prim.name


@dataclasses.dataclass
class Graph:
    """A flat, inlined jaxpr whose values are integer ids.

    Attributes:
      nodes: primitive applications in evaluation order.
      invars: ids of the flat inputs, in the order the function takes them.
      outvars: ids (or literals) of the flat outputs.
      consts: values of closed-over constants, by id.
      avals: shape and dtype of every id.
      consumers: for each id, the ``(node index, operand position)`` pairs
        reading it.
    """

    nodes: list[Node]
    invars: list[int]
    outvars: list[Ref]
    consts: dict[int, Any]
    avals: dict[int, jax.ShapeDtypeStruct]
    consumers: dict[int, list[tuple[int, int]]]

    def shape(self, ref: Ref) -> tuple[int, ...]:
        if isinstance(ref, Lit):
            return tuple(np.shape(ref.value))
        return tuple(self.avals[ref].shape)

    def dtype(self, ref: Ref) -> Any:
        if isinstance(ref, Lit):
            return np.result_type(ref.value)
        return self.avals[ref].dtype


def build_graph(closed: Any) -> Graph:
    """Flatten a ``ClosedJaxpr`` into a :class:`Graph`, inlining call primitives."""
    nodes: list[Node] = []
    consts: dict[int, Any] = {}
    avals: dict[int, jax.ShapeDtypeStruct] = {}
    counter = iter(range(1 << 62))

    def fresh(aval: Any) -> int:
        i = next(counter)
        avals[i] = jax.ShapeDtypeStruct(tuple(aval.shape), aval.dtype)
        return i

    def walk(
        jaxpr: Any, const_vals: Sequence[Any], in_refs: Sequence[Ref]
    ) -> list[Ref]:
        env: dict[Any, Ref] = {}

        def read(v: Any) -> Ref:
            if isinstance(v, jex_core.Literal):
                return Lit(v.val)
            return env[v]

        for v, val in zip(jaxpr.constvars, const_vals, strict=True):
            i = fresh(v.aval)
            consts[i] = val
            env[v] = i
        for v, r in zip(jaxpr.invars, in_refs, strict=True):
            env[v] = r
        for eqn in jaxpr.eqns:
            ins = tuple(read(v) for v in eqn.invars)
            if eqn.primitive.name in _INLINED and "jaxpr" in eqn.params:
                inner = eqn.params["jaxpr"]
                outs = walk(inner.jaxpr, inner.consts, ins)
                for v, r in zip(eqn.outvars, outs, strict=True):
                    env[v] = r
                continue
            outs = tuple(fresh(v.aval) for v in eqn.outvars)
            nodes.append(Node(eqn.primitive, dict(eqn.params), ins, outs))
            for v, r in zip(eqn.outvars, outs, strict=True):
                env[v] = r
        return [read(v) for v in jaxpr.outvars]

    jaxpr = closed.jaxpr
    invars = [fresh(v.aval) for v in jaxpr.invars]
    outvars = walk(jaxpr, closed.consts, invars)
    consumers: dict[int, list[tuple[int, int]]] = {}
    for k, node in enumerate(nodes):
        for pos, r in enumerate(node.ins):
            if not isinstance(r, Lit):
                consumers.setdefault(r, []).append((k, pos))
    return Graph(nodes, invars, outvars, consts, avals, consumers)


def evaluate(
    graph: Graph,
    inputs: Sequence[Any],
    probes: dict[int, Any] | None = None,
    keep: Sequence[int] = (),
) -> tuple[list[Any], dict[int, Any]]:
    """Run the graph; add ``probes[i]`` to value ``i`` right after it is made.

    Returns:
      The flat outputs and the values of the ids in ``keep`` (as computed, i.e.
      with their probe added, which is zero whenever derivatives are taken).
    """
    probes = probes or {}
    env: dict[int, Any] = dict(graph.consts)

    def write(i: int, value: Any) -> None:
        env[i] = value + probes[i] if i in probes else value

    for i, value in zip(graph.invars, inputs, strict=True):
        write(i, value)

    def read(r: Ref) -> Any:
        return r.value if isinstance(r, Lit) else env[r]

    for node in graph.nodes:
        params = node.prim.get_bind_params(node.params)
        ans = node.prim.bind(*[read(r) for r in node.ins], **params)
        if node.prim.multiple_results:
            for i, a in zip(node.outs, ans, strict=True):
                write(i, a)
        else:
            write(node.outs[0], ans)
    return [read(r) for r in graph.outvars], {i: env[i] for i in keep}


def dependencies(graph: Graph, sources: dict[int, int]) -> dict[int, frozenset[int]]:
    """For every id, the set of source labels (e.g. parameter leaves) it depends on."""
    deps: dict[int, frozenset[int]] = {
        i: frozenset({label}) for i, label in sources.items()
    }
    empty: frozenset[int] = frozenset()
    for node in graph.nodes:
        d = empty.union(
            *(deps.get(r, empty) for r in node.ins if not isinstance(r, Lit))
        )
        for o in node.outs:
            deps[o] = d
    return deps


def _size(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _subjaxpr_flops(params: dict[str, Any]) -> float:
    total = 0.0
    for key in ("call_jaxpr", "jaxpr", "fun_jaxpr"):
        sub = params.get(key)
        if sub is not None and hasattr(sub, "jaxpr"):
            total += jaxpr_flops(sub.jaxpr)
        elif sub is not None and hasattr(sub, "eqns"):
            total += jaxpr_flops(sub)
    return total


def _eqn_flops(
    name: str, params: dict[str, Any], in_shapes: list, out_shapes: list
) -> float:
    out = sum(_size(s) for s in out_shapes)
    if name == "dot_general":
        (lc, _), _ = params["dimension_numbers"]
        return 2.0 * out * _size([in_shapes[0][a] for a in lc])
    if name == "conv_general_dilated":
        rhs = in_shapes[1]
        out_feature = rhs[params["dimension_numbers"].rhs_spec[0]]
        return 2.0 * out * _size(rhs) / max(out_feature, 1)
    # Elementwise work and reductions: one operation per element touched.
    return float(max(out, max((_size(s) for s in in_shapes), default=0)))


def jaxpr_flops(jaxpr: Any) -> float:
    """A FLOP count of a (possibly nested) jaxpr: matmuls and convs exactly, the rest by size."""
    total = 0.0
    for eqn in jaxpr.eqns:
        in_shapes = [tuple(getattr(v.aval, "shape", ())) for v in eqn.invars]
        out_shapes = [tuple(getattr(v.aval, "shape", ())) for v in eqn.outvars]
        sub = _subjaxpr_flops(eqn.params)
        if sub:
            reps = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
            total += reps * sub
        else:
            total += _eqn_flops(eqn.primitive.name, eqn.params, in_shapes, out_shapes)
    return total


def graph_flops(graph: Graph) -> float:
    """FLOPs of one evaluation of the graph (see :func:`jaxpr_flops`)."""
    total = 0.0
    for node in graph.nodes:
        sub = _subjaxpr_flops(node.params)
        if sub:
            total += sub
            continue
        total += _eqn_flops(
            node.name,
            node.params,
            [graph.shape(r) for r in node.ins],
            [graph.shape(o) for o in node.outs],
        )
    return total


def _itemsize(dtype: Any) -> int:
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:  # extended dtypes (PRNG keys): count one word
        return int(getattr(dtype, "itemsize", 8))


def activation_bytes(graph: Graph) -> int:
    """Bytes of all intermediate values: what reverse mode keeps for the backward pass."""
    return sum(
        _size(graph.avals[o].shape) * _itemsize(graph.avals[o].dtype)
        for node in graph.nodes
        for o in node.outs
    )


def trace_graph(fn: Callable[..., Any], *args: Any) -> tuple[Graph, Any]:
    """``jax.make_jaxpr`` of ``fn(*args)`` as a :class:`Graph`, plus the output treedef."""
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
    return build_graph(closed), jax.tree_util.tree_structure(out_shape)
