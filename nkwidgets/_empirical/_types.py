"""Shared types of the empirical kernels: implementations, axes, keyword splitting."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any
Axes = int | Sequence[int]
ApplyFn = Callable[..., PyTree]
VMapAxes = Any  # None, an int, or (in_axes, out_axes, kwargs_axes)


class NtkImplementation(enum.IntEnum):
    """How the empirical NTK is computed; the values are Neural Tangents' (0-3).

    Attributes:
      AUTO: (``0``) estimate time and memory of the three methods below for the
        call's shapes and pick the fastest that fits the memory budget; the
        choice is cached per call signature and readable as
        ``ntk_fn.chosen_implementation``.
      JACOBIAN_CONTRACTION: (``1``) instantiate both Jacobians (reverse or
        forward mode, whichever is cheaper) and contract them. Best for small
        outputs and expensive forward passes.
      NTK_VECTOR_PRODUCTS: (``2``) columns of the NTK as ``J1 (J2^T v)``,
        forward over reverse mode; no Jacobian contraction. Best for cheap
        forward passes and many parameters.
      STRUCTURED_DERIVATIVES: (``3``) follow each parameter through the linear
        primitives it enters (matmul, convolution, bias add, reshapes) and
        contract ``df/dy`` with the factored ``dy/dw``, never forming the
        Jacobian where a rule exists. Usually fastest for dense and
        convolutional networks, and often much less memory.

    References:
      Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent
      Kernel <https://arxiv.org/abs/2206.08720>`_, ICML 2022.
    """

    AUTO = 0
    JACOBIAN_CONTRACTION = 1
    NTK_VECTOR_PRODUCTS = 2
    STRUCTURED_DERIVATIVES = 3


class VMapSpec(NamedTuple):
    """Canonical ``vmap_axes``: per-leaf axes of the inputs, outputs and kwargs."""

    x: PyTree  # int or None per leaf of x
    fx: PyTree  # int per leaf of f(x) (None: not batched)
    kw: dict[str, PyTree]

    @property
    def batched(self) -> bool:
        leaves = jax.tree_util.tree_leaves((self.x, self.kw))
        return any(a is not None for a in leaves)


def canonicalize_axes(axes: Axes, ndim: int) -> tuple[int, ...]:
    """Sorted, non-negative, unique axes."""
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"axis {a} is out of range for outputs with {ndim} dimensions; "
                f"`trace_axes` and `diagonal_axes` index the axes of `f(params, x)`."
            )
    return tuple(sorted({a % ndim for a in axes}))


def canonicalize_vmap_axes(
    vmap_axes: VMapAxes, x: PyTree, fx: PyTree, kwargs: dict[str, Any]
) -> VMapSpec:
    """Neural Tangents' reading of ``vmap_axes`` (see ``empirical_ntk_fn``)."""
    if isinstance(vmap_axes, tuple) and len(vmap_axes) == 3:
        x_axis, fx_axis, kw_axes = vmap_axes
    else:
        x_axis, fx_axis, kw_axes = vmap_axes, vmap_axes, {}
    kw_axes = kw_axes or {}

    def per_leaf(axis: Any, tree: PyTree) -> PyTree:
        if axis is None or isinstance(axis, int):
            return jax.tree_util.tree_map(
                lambda v: None if axis is None else axis % max(jnp.ndim(v), 1), tree
            )
        return jax.tree_util.tree_map(
            lambda a, v: None if a is None else a % max(jnp.ndim(v), 1),
            axis,
            tree,
            is_leaf=lambda a: a is None,
        )

    kw = {k: per_leaf(a, kwargs[k]) for k, a in kw_axes.items() if k in kwargs}
    return VMapSpec(per_leaf(x_axis, x), per_leaf(fx_axis, fx), kw)


def all_none(tree: PyTree) -> bool:
    return all(
        v is None for v in jax.tree_util.tree_leaves(tree, is_leaf=lambda v: v is None)
    )


def _same_inputs(x1: PyTree, x2: PyTree) -> jax.Array | bool:
    """Whether ``x1 == x2`` (a traced bool), or ``False`` when shapes alone differ."""
    l1, l2 = jax.tree_util.tree_leaves(x1), jax.tree_util.tree_leaves(x2)
    if len(l1) != len(l2):
        return False
    same = []
    for a, b in zip(l1, l2, strict=True):
        if isinstance(a, jax.ShapeDtypeStruct) or isinstance(b, jax.ShapeDtypeStruct):
            return False  # shapes only (memory estimates): keys never matter
        if jnp.shape(a) != jnp.shape(b):
            return False
        same.append(jnp.all(jnp.asarray(a) == jnp.asarray(b)))
    return jnp.all(jnp.stack(same)) if same else True


def split_kwargs(
    kwargs: dict[str, Any], x1: PyTree, x2: PyTree | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments for ``f(x1)`` and ``f(x2)``, as Neural Tangents splits them.

    An ``rng`` key becomes two keys (equal exactly when ``x2`` is ``None`` or
    equals ``x1``, so stochastic layers see the same noise for the same inputs);
    a tuple of length two is split into its halves; anything else is shared.
    """
    kwargs1: dict[str, Any] = {}
    kwargs2: dict[str, Any] = {}
    for k, v in kwargs.items():
        if k == "rng" and x2 is not None and v is not None:
            if isinstance(v, tuple) and len(v) == 2:
                kwargs1[k], kwargs2[k] = v
            else:
                kwargs1[k] = v
                same = _same_inputs(x1, x2)
                if same is False:
                    kwargs2[k] = jax.random.fold_in(v, 1)
                elif same is True:
                    kwargs2[k] = v
                else:
                    kwargs2[k] = jax.lax.cond(
                        same, lambda v=v: v, lambda v=v: jax.random.fold_in(v, 1)
                    )
        elif isinstance(v, tuple) and len(v) == 2:
            kwargs1[k], kwargs2[k] = v
        else:
            kwargs1[k] = kwargs2[k] = v
    return kwargs1, kwargs2
