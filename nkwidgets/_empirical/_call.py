"""One empirical-kernel call in canonical form: per-example functions and their vmap axes.

``vmap_axes`` certifies that ``f(params, x, **kwargs)`` is a concatenation of
``f`` applied to slices of ``x`` (and of some kwargs) along given axes. Every
implementation then works on a per-example function, which sees each slice
with the batch axis kept at size 1 (exactly as Neural Tangents does), and maps
it with ``jax.vmap``. Without ``vmap_axes`` the "per-example" function is ``f``
on the whole batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._types import PyTree, VMapSpec, canonicalize_vmap_axes


def is_array(v: Any) -> bool:
    """Arrays travel through ``jit`` / ``vmap``; anything else is a static argument."""
    return isinstance(v, jax.Array | np.ndarray | np.generic) or (
        hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, type)
    )


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Per-example view of ``f`` for one side (``x1`` or ``x2``) of a kernel call.

    Attributes:
      f_ex: ``f_ex(params, x, kw_leaves) -> fx``: ``f`` on one example (batch axes
        kept at size 1, outputs squeezed) or, unbatched, on the whole batch.
      x: the side's inputs.
      kw_leaves: array leaves of the side's keyword arguments.
      x_axes: per-leaf vmap axes of ``x`` (``None``: not mapped).
      kw_axes: vmap axis of each entry of ``kw_leaves``.
      fx_axes: per-leaf axis of ``f(x)`` the examples are stacked on.
      fx: shapes / dtypes of the full outputs ``f(params, x)``.
      batched: whether ``vmap_axes`` maps anything.
    """

    f_ex: Callable[[PyTree, PyTree, list[Any]], PyTree]
    x: PyTree
    kw_leaves: list[Any]
    x_axes: PyTree
    kw_axes: list[int | None]
    fx_axes: PyTree
    fx: PyTree
    batched: bool

    def vmap(self, fn: Callable[..., Any], out_axes: Any = 0) -> Callable[..., Any]:
        """Map ``fn(x, kw_leaves)`` over examples (identity when unbatched)."""
        if not self.batched:
            return fn
        return jax.vmap(fn, in_axes=(self.x_axes, self.kw_axes), out_axes=out_axes)

    def example_shapes(self) -> tuple[PyTree, list[Any]]:
        """Shapes of the per-example arguments (``x``, ``kw_leaves``) as ``f_ex`` sees them."""

        def one(v: Any, axis: int | None) -> jax.ShapeDtypeStruct:
            shape = tuple(np.shape(v))
            if axis is not None:
                shape = shape[:axis] + shape[axis + 1 :]
            return jax.ShapeDtypeStruct(shape, jnp.result_type(v))

        if self.batched:
            xs = jax.tree_util.tree_map(
                lambda a, v: one(v, a), self.x_axes, self.x, is_leaf=lambda a: a is None
            )
        else:
            xs = jax.tree_util.tree_map(lambda v: one(v, None), self.x)
        kws = [
            one(v, a if self.batched else None)
            for v, a in zip(self.kw_leaves, self.kw_axes, strict=True)
        ]
        return xs, kws

    def take(self, part: slice) -> Prepared:
        """The same call on examples ``part`` only (``vmap_axes`` must be set)."""
        assert self.batched

        def cut(v: Any, a: int | None) -> Any:
            return (
                v
                if a is None
                else jax.lax.slice_in_dim(v, part.start, part.stop, axis=a)
            )

        def shrink(a: int | None, o: Any) -> Any:
            if a is None:
                return o
            shape = list(o.shape)
            shape[a] = part.stop - part.start
            return jax.ShapeDtypeStruct(tuple(shape), o.dtype)

        none = {"is_leaf": lambda a: a is None}
        return dataclasses.replace(
            self,
            x=jax.tree_util.tree_map(
                lambda a, v: cut(v, a), self.x_axes, self.x, **none
            ),
            kw_leaves=[
                cut(v, a) for v, a in zip(self.kw_leaves, self.kw_axes, strict=True)
            ],
            fx=jax.tree_util.tree_map(shrink, self.fx_axes, self.fx, **none),
        )

    def batch_size(self) -> int:
        """Number of examples the vmap runs over (1 when unbatched)."""
        if not self.batched:
            return 1
        for v, a in zip(
            jax.tree_util.tree_leaves(self.x),
            jax.tree_util.tree_leaves(self.x_axes, is_leaf=lambda a: a is None),
            strict=True,
        ):
            if a is not None:
                return int(np.shape(v)[a])
        for v, a in zip(self.kw_leaves, self.kw_axes, strict=True):
            if a is not None:
                return int(np.shape(v)[a])
        return 1


def prepare(
    f: Callable[..., PyTree],
    params: PyTree,
    x: PyTree,
    kwargs: dict[str, Any],
    vmap_axes: Any,
    spec: VMapSpec | None = None,
) -> tuple[Prepared, VMapSpec]:
    """Canonicalise ``vmap_axes`` (or reuse ``spec`` from the other side) and build ``f_ex``."""
    kw_flat, kw_tree = jax.tree_util.tree_flatten(kwargs, is_leaf=lambda v: v is None)
    dyn_idx = [i for i, v in enumerate(kw_flat) if is_array(v)]

    def rebuild(dyn: list[Any]) -> dict[str, Any]:
        flat = list(kw_flat)
        for i, v in zip(dyn_idx, dyn, strict=True):
            flat[i] = v
        return jax.tree_util.tree_unflatten(kw_tree, flat)

    # Non-array kwargs (strings, flags) stay Python values, closed over.
    fx = jax.eval_shape(
        lambda p, xx, dyn: f(p, xx, **rebuild(dyn)),
        params,
        x,
        [kw_flat[i] for i in dyn_idx],
    )
    if spec is None:
        spec = canonicalize_vmap_axes(vmap_axes, x, fx, kwargs)
    batched = spec.batched

    # Per-leaf axes of the keyword arguments, aligned with `kw_flat`.
    kw_leaf_axes: list[int | None] = []
    for k in sorted(kwargs):  # the order tree_flatten puts dict keys in
        leaves = jax.tree_util.tree_leaves(kwargs[k], is_leaf=lambda v: v is None)
        if k in spec.kw:
            axes = jax.tree_util.tree_leaves(spec.kw[k], is_leaf=lambda a: a is None)
        else:
            axes = [None] * len(leaves)
        kw_leaf_axes += list(axes)
    kw_axes = [kw_leaf_axes[i] if batched else None for i in dyn_idx]

    def expand(v: Any, axis: int | None) -> Any:
        return v if axis is None else jnp.expand_dims(v, axis)

    def f_ex(p: PyTree, xx: PyTree, dyn: list[Any]) -> PyTree:
        if not batched:
            return f(p, xx, **rebuild(dyn))
        xx = jax.tree_util.tree_map(
            lambda a, v: expand(v, a), spec.x, xx, is_leaf=lambda a: a is None
        )
        dyn = [expand(v, a) for v, a in zip(dyn, kw_axes, strict=True)]
        out = f(p, xx, **rebuild(dyn))
        return jax.tree_util.tree_map(
            lambda a, o: o if a is None else jnp.squeeze(o, a),
            spec.fx,
            out,
            is_leaf=lambda a: a is None,
        )

    prepared = Prepared(
        f_ex=f_ex,
        x=x,
        kw_leaves=[kw_flat[i] for i in dyn_idx],
        x_axes=spec.x,
        kw_axes=kw_axes,
        fx_axes=spec.fx if batched else jax.tree_util.tree_map(lambda _: None, fx),
        fx=fx,
        batched=batched,
    )
    return prepared, spec
