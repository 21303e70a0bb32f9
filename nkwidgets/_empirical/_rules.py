"""Per-primitive rules: how a linear map ``w -> v`` continues through ``y = prim(v, ...)``.

Each rule receives the graph, the node, the operand position of the value that
is linear in the parameter, and its :class:`~._linmap.LinMap`. It returns the
map ``w -> y`` or ``None`` when the primitive has no rule (or is not linear in
that operand); the caller then stops the chain before the node and takes
``df/dv`` there instead, which is always correct and only costs speed. The
caller has already checked that every other operand is independent of the
parameter.

Rules exist for: ``dot_general``, ``conv_general_dilated`` (parameter as the
kernel, no feature / batch groups), ``mul``, ``div`` (numerator), ``neg``,
``add``, ``sub``, ``add_any``, ``broadcast_in_dim``, ``reshape``,
``transpose``, ``squeeze``, ``reduce_sum``, ``convert_element_type`` (between
floating types), ``copy``, ``copy_p`` and ``reduce_precision``.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, appendix (structure rules).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._ir import Graph, Lit, Node
from ._linmap import Factor, LinMap, broadcast_groups, implicit_broadcast, regroup

Rule = Callable[[Graph, Node, int, LinMap], LinMap | None]
RULES: dict[str, Rule] = {}

_MINUS_ONE = Factor(Lit(-1.0), ("id",), ())


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


@_rule("copy", "copy_p", "reduce_precision")
def _identity(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del graph, node, pos
    return lm


@_rule("convert_element_type")
def _convert(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del graph, pos
    # A cast to an integer type has zero derivative; leave it to autodiff.
    if not np.issubdtype(np.dtype(node.params["new_dtype"]), np.inexact):
        return None
    return lm


@_rule("neg")
def _neg(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del graph, node, pos
    return lm.add_factor(_MINUS_ONE)


def _operand_groups(
    other_shape: tuple[int, ...], y: list, out_shape: tuple[int, ...]
) -> tuple:
    """Groups of a broadcasting operand: size-1 (broadcast) axes carry no atoms."""
    if len(other_shape) == 0:
        return ()
    return tuple(
        y[d] if other_shape[d] == out_shape[d] else () for d in range(len(out_shape))
    )


def _scale(
    graph: Graph, node: Node, pos: int, lm: LinMap, transform: tuple
) -> LinMap | None:
    other = node.ins[1 - pos]
    out_shape = graph.shape(node.outs[0])
    other_shape = graph.shape(other)
    # After a matmul, only scalar scalings keep the probe as small as the output.
    if lm.contractions and math.prod(other_shape) != 1:
        return None
    lm, y = implicit_broadcast(lm, lm.y, graph.shape(node.ins[pos]), out_shape)
    groups = _operand_groups(other_shape, y, out_shape)
    return lm.with_y(y).add_factor(Factor(other, transform, groups))


@_rule("mul")
def _mul(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    return _scale(graph, node, pos, lm, ("id",))


@_rule("div")
def _div(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    if pos != 0:  # w in the denominator is not linear
        return None
    return _scale(graph, node, pos, lm, ("recip",))


@_rule("add", "sub", "add_any")
def _add(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    out_shape = graph.shape(node.outs[0])
    in_shape = graph.shape(node.ins[pos])
    if lm.contractions and in_shape != out_shape:
        return None
    lm, y = implicit_broadcast(lm, lm.y, in_shape, out_shape)
    lm = lm.with_y(y)
    return lm.add_factor(_MINUS_ONE) if node.name == "sub" and pos == 1 else lm


@_rule("broadcast_in_dim")
def _broadcast_in_dim(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del pos
    if lm.contractions:  # would make the probe larger than the matmul output
        return None
    lm, y = broadcast_groups(
        lm,
        lm.y,
        graph.shape(node.ins[0]),
        graph.shape(node.outs[0]),
        node.params["broadcast_dimensions"],
    )
    return lm.with_y(y)


@_rule("reshape")
def _reshape(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del pos
    groups = list(lm.y)
    if node.params.get("dimensions") is not None:
        groups = [groups[d] for d in node.params["dimensions"]]
    out = regroup(lm, groups, graph.shape(node.outs[0]))
    if out is None:
        return None
    lm, y = out
    return lm.with_y(y)


@_rule("transpose")
def _transpose(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del graph, pos
    return lm.with_y([lm.y[d] for d in node.params["permutation"]])


@_rule("squeeze")
def _squeeze(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del pos
    ndim = len(graph.shape(node.ins[0]))
    drop = {d % ndim for d in node.params["dimensions"]}
    return lm.with_y([g for d, g in enumerate(lm.y) if d not in drop])


@_rule("reduce_sum")
def _reduce_sum(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    del graph, pos
    # Summed atoms stay in W / the factors and are summed in the contraction.
    drop = set(node.params["axes"])
    return lm.with_y([g for d, g in enumerate(lm.y) if d not in drop])


def _free_atoms(
    lm: LinMap, shape: tuple[int, ...], axes: list[int]
) -> tuple[LinMap, dict]:
    groups = {}
    for d in axes:
        if shape[d] > 1:
            lm, a = lm.add_atom(shape[d])
            groups[d] = (a,)
        else:
            groups[d] = ()
    return lm, groups


@_rule("dot_general")
def _dot_general(graph: Graph, node: Node, pos: int, lm: LinMap) -> LinMap | None:
    if lm.contractions:
        return None
    (lc, rc), (lb, rb) = node.params["dimension_numbers"]
    v_contract, o_contract = (lc, rc) if pos == 0 else (rc, lc)
    v_batch, o_batch = (lb, rb) if pos == 0 else (rb, lb)
    other = node.ins[1 - pos]
    o_shape = graph.shape(other)
    v_ndim = len(graph.shape(node.ins[pos]))

    o_groups: dict[int, tuple] = {}
    for a_v, a_o in zip((*v_contract, *v_batch), (*o_contract, *o_batch), strict=True):
        o_groups[a_o] = lm.y[a_v]
    o_free = [d for d in range(len(o_shape)) if d not in o_groups]
    lm, free = _free_atoms(lm, o_shape, o_free)
    o_groups.update(free)

    v_free = [d for d in range(v_ndim) if d not in v_contract and d not in v_batch]
    batch = [lm.y[d] for d in v_batch]
    v_out = [lm.y[d] for d in v_free]
    o_out = [o_groups[d] for d in o_free]
    y = batch + (v_out + o_out if pos == 0 else o_out + v_out)
    factor = Factor(other, ("id",), tuple(o_groups[d] for d in range(len(o_shape))))
    lm = lm.add_factor(factor)
    return lm.with_y(y, contractions=lm.contractions + 1)


@_rule("conv_general_dilated")
def _conv_general_dilated(
    graph: Graph, node: Node, pos: int, lm: LinMap
) -> LinMap | None:
    # The kernel enters like a matmul against image patches of the input:
    # y[n, o, s] = sum_{c, k} patches[n, (c, k), s] w[o, c, k].
    p = node.params
    if lm.contractions or pos != 1:
        return None
    if p["feature_group_count"] != 1 or p["batch_group_count"] != 1:
        return None
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    rhs_shape = graph.shape(node.ins[1])
    out_shape = graph.shape(node.outs[0])
    feature = lm.y[rhs_spec[1]] + tuple(a for d in rhs_spec[2:] for a in lm.y[d])
    free_axes = [out_spec[0], *out_spec[2:]]
    lm, free = _free_atoms(lm, out_shape, free_axes)
    patch_groups = [()] * len(out_shape)
    y = [()] * len(out_shape)
    patch_groups[out_spec[1]] = feature
    y[out_spec[1]] = lm.y[rhs_spec[0]]
    for d in free_axes:
        patch_groups[d] = y[d] = free[d]
    kwargs = (
        ("filter_shape", tuple(rhs_shape[d] for d in rhs_spec[2:])),
        ("window_strides", tuple(p["window_strides"])),
        ("padding", tuple(tuple(pd) for pd in p["padding"])),
        ("lhs_dilation", tuple(p["lhs_dilation"])),
        ("rhs_dilation", tuple(p["rhs_dilation"])),
        ("dimension_numbers", p["dimension_numbers"]),
    )
    lm = lm.add_factor(Factor(node.ins[0], ("patches", kwargs), tuple(patch_groups)))
    return lm.with_y(y, contractions=lm.contractions + 1)
