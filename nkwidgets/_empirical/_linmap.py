"""Linear maps from a parameter to an intermediate value, in einsum form.

A parameter ``w`` reaches the rest of the network through a few linear steps
(reshape, transpose, broadcast, scaling, a matmul or a convolution with a
``w``-independent operand, a bias add). Such a map ``y = L(w)`` is stored in
factored form, never as a matrix::

    y[Y] = sum over atoms not in Y of  prod_k F_k[labels_k] * w[W]

Each array axis is a *group* of *atoms*: integer labels with a size, listed in
row-major order, so reshapes only regroup (or split) atoms. An atom that
appears in ``W`` and ``Y`` but in no factor is an identity ("trace") structure,
one in ``Y`` only is a broadcast, one in ``W``, ``Y`` and a factor is a
diagonal. The NTK contribution ``G1 L1 L2^T G2^T`` is then one einsum over
``G1``, the factors of both sides, and ``G2``, with the ``W`` atoms shared: the
structure of each primitive's Jacobian is never materialised.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, section 3.3 and appendix.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from ._ir import Ref

Group = tuple[int, ...]

_atoms = itertools.count()


def new_atom() -> int:
    """A label no other atom has."""
    return next(_atoms)


@dataclasses.dataclass(frozen=True)
class Factor:
    """A runtime array that multiplies into a linear map.

    Attributes:
      ref: the graph value (or literal) the array is computed from.
      transform: a static, hashable description of how to turn the value into
        the factor: ``("id",)``, ``("recip",)`` or ``("patches", kwargs)``.
      groups: the atoms of each axis of the transformed array.
    """

    ref: Ref
    transform: tuple[Any, ...]
    groups: tuple[Group, ...]


@dataclasses.dataclass(frozen=True)
class LinMap:
    """``y = L(w)`` in factored form (see the module docstring).

    Attributes:
      y: atoms of each axis of ``y``.
      w: atoms of each axis of the parameter (refined when a reshape splits one).
      factors: the multiplying arrays.
      sizes: size of every atom.
      contractions: how many matmuls / convolutions the map already contains;
        the rules allow one, so maps stay cheap to contract.
    """

    y: tuple[Group, ...]
    w: tuple[Group, ...]
    factors: tuple[Factor, ...]
    sizes: dict[int, int]
    contractions: int = 0

    @staticmethod
    def identity(shape: Sequence[int]) -> LinMap:
        groups = tuple((new_atom(),) for _ in shape)
        sizes = {g[0]: n for g, n in zip(groups, shape, strict=True)}
        return LinMap(y=groups, w=groups, factors=(), sizes=sizes)

    @property
    def w_atoms(self) -> frozenset[int]:
        return frozenset(a for g in self.w for a in g)

    def y_shape(self) -> tuple[int, ...]:
        return tuple(self.group_size(g) for g in self.y)

    def group_size(self, group: Iterable[int]) -> int:
        return math.prod(self.sizes[a] for a in group)

    def with_y(self, y: Sequence[Group], **changes: Any) -> LinMap:
        return dataclasses.replace(self, y=tuple(tuple(g) for g in y), **changes)

    def add_atom(self, size: int) -> tuple[LinMap, int]:
        a = new_atom()
        return dataclasses.replace(self, sizes={**self.sizes, a: size}), a

    def add_factor(self, factor: Factor) -> LinMap:
        return dataclasses.replace(self, factors=(*self.factors, factor))

    def split(self, atom: int, parts: Sequence[int]) -> tuple[LinMap, tuple[int, ...]]:
        """Replace ``atom`` by new atoms of sizes ``parts`` (row-major) everywhere."""
        assert math.prod(parts) == self.sizes[atom]
        new = tuple(new_atom() for _ in parts)
        sizes = {**self.sizes, **dict(zip(new, parts, strict=True))}

        def sub(groups: tuple[Group, ...]) -> tuple[Group, ...]:
            return tuple(
                tuple(b for a in g for b in (new if a == atom else (a,)))
                for g in groups
            )

        factors = tuple(
            dataclasses.replace(f, groups=sub(f.groups)) for f in self.factors
        )
        return (
            dataclasses.replace(
                self, y=sub(self.y), w=sub(self.w), factors=factors, sizes=sizes
            ),
            new,
        )


def regroup(
    lm: LinMap, groups: Sequence[Group], shape: Sequence[int]
) -> tuple[LinMap, list[Group]] | None:
    """Regroup the atoms of ``groups`` (row-major) into axes of ``shape``.

    Splits atoms where an axis boundary falls inside one. Returns ``None`` when
    the reshape mixes atoms in a way no split can express (e.g. ``(2, 3)`` to
    ``(3, 2)``); the caller then cuts the chain there.
    """
    queue = deque(a for g in groups for a in g if lm.sizes[a] > 1)
    out: list[Group] = []
    for n in shape:
        group: list[int] = []
        need = n
        while need > 1:
            if not queue:
                return None
            a = queue.popleft()
            size = lm.sizes[a]
            if need % size == 0:
                group.append(a)
                need //= size
            elif size % need == 0:
                lm, (outer, inner) = lm.split(a, (need, size // need))
                queue.appendleft(inner)
                group.append(outer)
                need = 1
            else:
                return None
        out.append(tuple(group))
    if queue:
        return None
    return lm, out


def broadcast_groups(
    lm: LinMap,
    groups: Sequence[Group],
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    dims: Sequence[int],
) -> tuple[LinMap, list[Group]]:
    """Groups after ``broadcast_in_dim``: new and size-1-expanded axes get fresh atoms."""
    out: list[Group] = [()] * len(out_shape)
    for i, d in enumerate(dims):
        if in_shape[i] == out_shape[d]:
            out[d] = groups[i]
    for d, n in enumerate(out_shape):
        if d not in dims or in_shape[list(dims).index(d)] != n:
            if n > 1:
                lm, a = lm.add_atom(n)
                out[d] = (a,)
    return lm, out


def implicit_broadcast(
    lm: LinMap,
    groups: Sequence[Group],
    in_shape: Sequence[int],
    out_shape: Sequence[int],
) -> tuple[LinMap, list[Group]]:
    """Groups of an operand that an elementwise primitive broadcasts to ``out_shape``.

    ``lax`` binary primitives accept rank-0 operands and, in this JAX, equal-rank
    operands with size-1 axes; both broadcast like ``broadcast_in_dim``.
    """
    if len(in_shape) == 0:
        return broadcast_groups(lm, groups, (), out_shape, ())
    return broadcast_groups(
        lm, groups, in_shape, out_shape, tuple(range(len(out_shape)))
    )
