"""Contracting structured derivatives into the NTK, choosing the cheapest order per term.

Each term ``(w, y, y')`` of the structured NTK is an einsum over ``G1`` (shaped
``f(x1) x y``), the factors of both linear maps and ``G2``. Three ways to
contract it are priced with ``opt_einsum``'s FLOP counts (which AUTO also
uses), and the cheapest is planned:

* the einsum in ``opt_einsum``'s best order, e.g. ``(x1 x2^T) * (G1 G2^T)``
  for a dense layer, the paper's structured MJJMP;
* the Jacobian block ``V = G dy/dw`` of each side, with all such terms of an
  output leaf concatenated along ``w`` into one matmul ``V1 V2^T`` (best for
  convolutions on small images, where ``w`` is smaller than ``y``);
* for terms sharing ``(y, y')`` and the same identity ("trace") structure,
  such as a layer's weight and bias, summing the small middle tensors
  ``M = dy/dw dy'/dw^T`` first and contracting ``G1 M G2`` once.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, section 4 and appendix.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ._einsum import Einsum, Operand
from ._ir import Lit
from ._layout import OutputLayout, contract_outputs
from ._structured import Plan, SideValues, Use


@dataclasses.dataclass
class MergedGroup:
    """Terms sharing ``(y, y')`` whose middle tensors are summed before ``G1 M G2``."""

    middles: list[
        tuple[Einsum, list, tuple[int, ...], tuple[int, ...]]
    ]  # einsum, out labels, atom shape, M shape
    final: Einsum


@dataclasses.dataclass
class JacobianTerm:
    """A term contracted as ``V1 V2^T``, ``V = df/dy dy/dw`` (this use's Jacobian block).

    All such terms of a leaf are concatenated along ``w`` into one matmul.
    """

    side1: Einsum  # -> (*f(x1).shape, *shared w atoms)
    side2: Einsum
    w_size: int


@dataclasses.dataclass
class Contraction:
    """Static contraction plan of one output leaf."""

    terms: list[Einsum]
    merged: list[MergedGroup]
    jacobian: list[JacobianTerm]
    layout: OutputLayout
    kernel_shape: tuple[int, ...]
    trace_size: int
    out_sizes: tuple[int, int]  # entries of f(x1), f(x2)

    def _gemm_flops(self) -> float:
        w = sum(t.w_size for t in self.jacobian)
        return 2.0 * math.prod(self.kernel_shape) * self.trace_size * w

    @property
    def flops(self) -> float:
        total = sum(t.flops for t in self.terms) + self._gemm_flops()
        total += sum(t.side1.flops + t.side2.flops for t in self.jacobian)
        for g in self.merged:
            total += g.final.flops + sum(
                m[0].flops + math.prod(m[3]) for m in g.middles
            )
        return total

    @property
    def largest(self) -> int:
        sizes = [t.largest for t in self.terms]
        w = sum(t.w_size for t in self.jacobian)
        sizes += [w * (self.out_sizes[0] + self.out_sizes[1])]
        for g in self.merged:
            sizes += [
                g.final.largest,
                *(max(m[0].largest, math.prod(m[3])) for m in g.middles),
            ]
        return max(sizes, default=0)


def _side_operands(
    mapped: frozenset,
    use: Use,
    side: int,
    layout: OutputLayout,
    out_shape: Sequence[int],
    axis: int | None,
) -> tuple[list[Operand], float, list]:
    """``G`` and factor operands of one use, labelled for one side."""
    lm = use.lm
    w = lm.w_atoms

    def lab(a: int) -> tuple:
        return ("w", a) if a in w else ("a", side, a)

    y_atoms = [a for g in lm.y for a in g if lm.sizes[a] > 1]
    ops = [
        Operand(
            side,
            "G",
            use.probe,
            tuple(layout.labels(side)) + tuple(lab(a) for a in y_atoms),
            tuple(out_shape) + tuple(lm.sizes[a] for a in y_atoms),
        )
    ]
    coef, scalars = 1.0, []
    for f in lm.factors:
        key = (f.ref, f.transform)
        if isinstance(f.ref, Lit):
            v = float(f.ref.value)
            coef *= 1.0 / v if f.transform[0] == "recip" else v
            continue
        atoms = [a for g in f.groups for a in g if lm.sizes[a] > 1]
        is_mapped = axis is not None and key in mapped
        if not atoms and not is_mapped:
            scalars.append((side, key))
            continue
        labels = ((layout.label(side, axis),) if is_mapped else ()) + tuple(
            lab(a) for a in atoms
        )
        shape = ((out_shape[axis],) if is_mapped else ()) + tuple(
            lm.sizes[a] for a in atoms
        )
        ops.append(Operand(side, "F", key, labels, shape))
    return ops, coef, scalars


def _w_only(use: Use, operands: list[Operand]) -> float:
    """W atoms in no operand: ``dy/dw`` is constant along them, so each adds its size."""
    present = {lab for o in operands for lab in o.labels}
    return float(
        math.prod(use.lm.sizes[a] for a in use.lm.w_atoms if ("w", a) not in present)
    )


def _merge_key(u1: Use, u2: Use) -> tuple | None:
    """Trace-paired ``(y axis, y' axis)`` pairs, or None when the term has diagonal structure."""
    w = u1.lm.w_atoms
    f_atoms = {a for u in (u1, u2) for f in u.lm.factors for g in f.groups for a in g}

    def big(u: Use) -> list[tuple[int, tuple]]:
        out = []
        for i, g in enumerate(u.lm.y):
            g = tuple(a for a in g if u.lm.sizes[a] > 1)
            if g:
                out.append((i, g))
        return out

    y2 = big(u2)
    pairs, taken = [], set()
    for i, g in big(u1):
        if not any(a in w for a in g):
            continue
        if not all(a in w for a in g) or set(g) & f_atoms:
            return None
        match = [j for j, h in y2 if h == g and j not in taken]
        if not match:
            return None
        pairs.append((i, match[0]))
        taken.add(match[0])
    for j, h in y2:
        if j not in taken and any(a in w for a in h):
            return None
    return tuple(pairs)


def _axis_sizes(u: Use) -> list[tuple[int, int]]:
    return [
        (i, u.lm.group_size(g)) for i, g in enumerate(u.lm.y) if u.lm.group_size(g) > 1
    ]


def plan_contraction(
    plan1: Plan,
    plan2: Plan,
    uses2: list[list[Use]],
    layout: OutputLayout,
    shape1: Sequence[int],
    shape2: Sequence[int],
    axis: int | None,
) -> Contraction:
    """Choose, for every term of one output leaf, a plain or a merged einsum.

    ``uses2`` are ``plan2``'s uses with their parameter atoms renamed to
    ``plan1``'s (see :func:`._structured.align_uses`).
    """
    out = layout.internal_labels()
    groups: dict[tuple, list[tuple[Einsum, Use, Use, tuple, float, list, Any]]] = {}
    terms: list[Einsum] = []
    jacobian: list[JacobianTerm] = []
    pre_trace = math.prod(layout.kernel_shape(shape1, shape2)) * layout.trace_size(
        shape1
    )
    for uses_a, uses_b in zip(plan1.uses, uses2, strict=True):
        for u1 in uses_a:
            for u2 in uses_b:
                ops1, c1, s1 = _side_operands(plan1.mapped, u1, 1, layout, shape1, axis)
                ops2, c2, s2 = _side_operands(plan2.mapped, u2, 2, layout, shape2, axis)
                ops = [*ops1, *ops2]
                coef = c1 * c2 * _w_only(u1, ops)
                term = Einsum.make(ops, out, coef, s1 + s2)
                jac = _jacobian_term(ops1, ops2, layout, coef, s1, s2)
                # A Jacobian term joins one shared matmul, so it wins near-ties.
                jac_flops = (
                    jac.side1.flops + jac.side2.flops + 2.0 * pre_trace * jac.w_size
                )
                plain: Any = jac if jac_flops <= 1.05 * term.flops else term
                plain_flops = min(jac_flops, term.flops)
                pairs = _merge_key(u1, u2)
                if pairs is None:
                    (jacobian if plain is jac else terms).append(plain)
                    continue
                key = (u1.probe, u2.probe, pairs)
                groups.setdefault(key, []).append(
                    (
                        dataclasses.replace(term, flops=plain_flops),
                        u1,
                        u2,
                        pairs,
                        coef,
                        s1 + s2,
                        plain,
                    )
                )

    merged: list[MergedGroup] = []
    for (p1, p2, pairs), members in groups.items():
        _, u1, u2, _, _, _, _ = members[0]
        paired1 = {i for i, _ in pairs}
        paired2 = {j for _, j in pairs}
        gen1 = [(i, n) for i, n in _axis_sizes(u1) if i not in paired1]
        gen2 = [(j, n) for j, n in _axis_sizes(u2) if j not in paired2]
        m_out: list = []
        m_shape: list[int] = []
        if axis is not None:
            for side, shape in ((1, shape1), (2, shape2)):
                label = layout.label(side, axis)
                if label not in m_out:
                    m_out.append(label)
                    m_shape.append(shape[axis])
        m_labels = (
            m_out + [("g", 1, i) for i, _ in gen1] + [("g", 2, j) for j, _ in gen2]
        )
        m_shape += [n for _, n in gen1] + [n for _, n in gen2]

        def g_operand(
            u: Use, side: int, shape: Sequence[int], probe: int, pairs: tuple = pairs
        ) -> Operand:
            labels, sizes = list(layout.labels(side)), list(shape)
            for i, n in _axis_sizes(u):
                pair = [pq for pq in pairs if pq[side - 1] == i]
                labels.append(("T", *pair[0]) if pair else ("g", side, i))
                sizes.append(n)
            return Operand(side, "G", probe, tuple(labels), tuple(sizes))

        final = Einsum.make(
            [
                g_operand(u1, 1, shape1, p1),
                Operand(0, "M", (p1, p2, pairs), tuple(m_labels), tuple(m_shape)),
                g_operand(u2, 2, shape2, p2),
            ],
            out,
            1.0,
            [],
        )
        middles, savings = [], []
        for term, t1, t2, _, coef, scalars, _ in members:
            factor_ops = [o for o in term.operands if o.kind == "F"]
            atom_out, atom_shape = [], []
            for label, n in zip(m_out, m_shape[: len(m_out)], strict=True):
                atom_out.append(label)
                atom_shape.append(n)
            for u, side, gen in ((t1, 1, gen1), (t2, 2, gen2)):
                w = u.lm.w_atoms
                for i, _ in gen:
                    for a in u.lm.y[i]:
                        if u.lm.sizes[a] > 1:
                            atom_out.append(("w", a) if a in w else ("a", side, a))
                            atom_shape.append(u.lm.sizes[a])
            present = {lab for o in factor_ops for lab in o.labels}
            kept = [lab for lab in atom_out if lab in present]
            mid = (
                Einsum.make(factor_ops, kept, coef, scalars)
                if factor_ops
                else Einsum([], kept, coef, scalars, [], 0.0, 0)
            )
            middles.append((mid, atom_out, tuple(atom_shape), tuple(m_shape)))
            savings.append(term.flops - mid.flops - math.prod(m_shape))
        # Merge the members that save FLOPs, if together they pay for `final`.
        chosen = [k for k, s in enumerate(savings) if s > 0]
        if not (chosen and sum(savings[k] for k in chosen) > final.flops):
            chosen = []
        else:
            merged.append(MergedGroup([middles[k] for k in chosen], final))
        for k, m in enumerate(members):
            if k not in chosen:
                (jacobian if isinstance(m[6], JacobianTerm) else terms).append(m[6])
    return Contraction(
        terms,
        merged,
        jacobian,
        layout,
        layout.kernel_shape(shape1, shape2),
        layout.trace_size(shape1),
        (math.prod(shape1), math.prod(shape2)),
    )


def _jacobian_term(
    ops1: list[Operand],
    ops2: list[Operand],
    layout: OutputLayout,
    coef: float,
    s1: list,
    s2: list,
) -> JacobianTerm:
    """Each side contracted to its Jacobian block over the ``w`` atoms both sides carry."""
    labels1 = {lab for o in ops1 for lab in o.labels}
    labels2 = {lab for o in ops2 for lab in o.labels}
    sizes = {
        lab: n for o in (*ops1, *ops2) for lab, n in zip(o.labels, o.shape, strict=True)
    }
    shared = sorted((lab for lab in labels1 & labels2 if lab[0] == "w"), key=repr)
    side1 = Einsum.make(ops1, [*layout.labels(1), *shared], coef, s1)
    side2 = Einsum.make(ops2, [*layout.labels(2), *shared], 1.0, s2)
    return JacobianTerm(side1, side2, math.prod(sizes[lab] for lab in shared))


def run_contraction(
    c: Contraction, leaf: int, side1: SideValues, side2: SideValues, dtype: Any
) -> jax.Array:
    """Evaluate a :class:`Contraction` on runtime values."""
    sides = {1: side1, 2: side2}
    values: dict[tuple[int, str, Any], jax.Array] = {}
    for s, sv in sides.items():
        for p, g in (sv.G[leaf] or {}).items():
            values[(s, "G", p)] = g
        for k, f in sv.F.items():
            values[(s, "F", k)] = f
    internal_shape = tuple(
        c.kernel_shape[c.layout.out_labels().index(lab)]
        for lab in c.layout.internal_labels()
    )
    total = jnp.zeros(internal_shape, dtype)
    for t in c.terms:
        total = total + t.run(values, sides)
    if c.jacobian:
        shape1 = tuple(side1_shape(c))
        shape2 = tuple(side2_shape(c))
        blocks1, blocks2 = [], []
        for t in c.jacobian:
            # Side 1 picks the w order its contraction yields; side 2 follows.
            k = len(shape1)
            labels, v1 = t.side1.run_free_tail(values, sides, free_after=k)
            out2 = [*t.side2.out[: len(shape2)], *labels[k:]]
            blocks1.append(v1.reshape(*shape1, -1))
            blocks2.append(t.side2.run(values, sides, out2).reshape(*shape2, -1))
        v1 = jnp.concatenate(blocks1, -1)
        v2 = jnp.concatenate(blocks2, -1)
        total = total + contract_outputs(v1, v2, c.layout, extra=1, internal=True)
    for group in c.merged:
        m = 0.0
        for mid, atom_out, atom_shape, m_shape in group.middles:
            if mid.operands:
                part = mid.run(values, sides)
            else:
                part = jnp.asarray(mid.coef, dtype)
                for side, key in mid.scalars:
                    part = part * sides[side].F[key].reshape(())
            part = _broadcast_labels(part, mid.out, atom_out, atom_shape)
            m = m + part.reshape(m_shape)
        values[(0, "M", group.final.operands[1].key)] = jnp.asarray(m, dtype)
        total = total + group.final.run(values, sides)
    return c.layout.to_kernel_order(total) / c.trace_size


def side1_shape(c: Contraction) -> tuple[int, ...]:
    return c.jacobian[0].side1.operands[0].shape[: c.layout.ndim]


def side2_shape(c: Contraction) -> tuple[int, ...]:
    return c.jacobian[0].side2.operands[0].shape[: c.layout.ndim]


def _broadcast_labels(
    x: jax.Array, have: list, want: list, shape: tuple[int, ...]
) -> jax.Array:
    """Lay ``x`` (axes labelled ``have``) out along ``want``, broadcasting absent labels."""
    x = jnp.reshape(x, tuple(shape[want.index(lab)] for lab in have))
    order = sorted(range(len(have)), key=lambda k: want.index(have[k]))
    x = jnp.transpose(x, order)
    expanded = [shape[k] if want[k] in have else 1 for k in range(len(want))]
    return jnp.broadcast_to(x.reshape(expanded), shape)
