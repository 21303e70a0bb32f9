"""NTK by NTK-vector products (implementation 2), and ``empirical_ntk_vp_fn``.

A column of the NTK is ``Theta v = J1 (J2^T v)``: a vector-Jacobian product
through ``f(x2)`` followed by a Jacobian-vector product through ``f(x1)``. The
kernel is built from one such product per entry of ``f(x2)`` (per example entry
when ``vmap_axes`` says examples are independent), so the Jacobians are never
contracted. Columns are computed in chunks (``lax.map`` with ``batch_size``)
so that memory stays bounded by the chunk, not by the kernel size.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, section 3.2.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._call import Prepared
from ._layout import OutputLayout, trace_and_diagonal
from ._symmetric import block_axis, symmetric
from ._types import PyTree

# Bytes of tangents and activations one chunk of columns may hold. Measured
# on the bench cases (2-core EPYC): 64 MiB chunks beat 512 MiB ones by ~10 %
# on the MLP and ~5 % on the CNN, as the batched convolutions and matmuls of a
# chunk then stay in cache; much smaller chunks pay per-step overhead.
CHUNK_BYTES = 1 << 26


def chunk_size(columns: int, bytes_per_column: float) -> int:
    """Columns per ``lax.map`` step under :data:`CHUNK_BYTES`."""
    return int(max(1, min(columns, CHUNK_BYTES // max(bytes_per_column, 1))))


def column_bytes(p1: Prepared, params: PyTree, activation_bytes: int) -> float:
    """Memory of one column: a parameter tangent plus the tangents of ``f(x1)``'s activations."""
    leaves = jax.tree_util.tree_leaves(params)
    item = np.dtype(jnp.result_type(*leaves)).itemsize if leaves else 4
    return sum(math.prod(jnp.shape(v)) for v in leaves) * item + activation_bytes


def _full_f(prepared: Prepared):
    def f(p: PyTree) -> PyTree:
        return prepared.vmap(
            lambda x, kw: prepared.f_ex(p, x, kw), out_axes=prepared.fx_axes
        )(prepared.x, prepared.kw_leaves)

    return f


def ntk_vector_ntk(
    p1: Prepared,
    p2: Prepared | None,
    params: PyTree,
    layouts: list[OutputLayout],
    activation_bytes: int,
) -> list[jax.Array]:
    """Per output leaf, the NTK from NTK-vector products (``p2=None``: ``x2 = x1``)."""
    same = p2 is None
    p2 = p2 or p1
    fx1 = jax.tree_util.tree_leaves(p1.fx)
    fx2 = jax.tree_util.tree_leaves(p2.fx)
    out_tree = jax.tree_util.tree_structure(p1.fx)
    per_col = column_bytes(p1, params, activation_bytes)
    fx_axes = jax.tree_util.tree_leaves(p1.fx_axes, is_leaf=lambda a: a is None)

    def jvp_of(prepared: Prepared):
        f1 = _full_f(prepared)

        def jvp1(t: PyTree) -> list[jax.Array]:
            return out_tree.flatten_up_to(jax.jvp(f1, (params,), (t,))[1])

        return jvp1

    jvp1 = jvp_of(p1)
    results = []
    for leaf, layout in enumerate(layouts):
        axis = fx_axes[leaf]
        if (
            same
            and p1.batched
            and axis is not None
            and block_axis(layout, fx1[leaf].shape, axis) == axis
        ):
            results.append(
                _symmetric_batched(p1, params, jvp_of, leaf, layout, per_col)
                / layout.trace_size(fx1[leaf].shape)
            )
            continue
        if not p2.batched:
            _, pull = jax.vjp(_full_f(p2), params)
            size = math.prod(fx2[leaf].shape)

            def column(
                k: jax.Array, leaf: int = leaf, size: int = size, pull=pull
            ) -> jax.Array:
                cts = [
                    jnp.zeros(o.shape, o.dtype)
                    if j != leaf
                    else jax.nn.one_hot(k, size, dtype=o.dtype).reshape(o.shape)
                    for j, o in enumerate(fx2)
                ]
                return jvp1(pull(jax.tree_util.tree_unflatten(out_tree, cts))[0])[leaf]

            cols = jax.lax.map(
                column, jnp.arange(size), batch_size=chunk_size(size, per_col)
            )
            cols = cols.reshape(*fx2[leaf].shape, *fx1[leaf].shape)
        else:
            cols = _batched_columns(p2, params, jvp1, leaf, fx2, per_col)
        nd = len(fx1[leaf].shape)
        full = jnp.moveaxis(cols, tuple(range(nd)), tuple(range(-nd, 0)))
        results.append(
            trace_and_diagonal(full, layout) / layout.trace_size(fx1[leaf].shape)
        )
    return results


def _symmetric_batched(
    p1: Prepared, params, jvp_of, leaf, layout, per_col
) -> jax.Array:
    """``Theta(x, x)``: column block ``j`` only needs rows of blocks ``i <= j``."""
    axis = jax.tree_util.tree_leaves(p1.fx_axes, is_leaf=lambda a: a is None)[leaf]
    n = jax.tree_util.tree_leaves(p1.fx)[leaf].shape[axis]
    pos1 = layout.out_labels().index(("o", 1, axis))
    memo: dict[int, jax.Array] = {}

    def compute(rows: slice, cols: slice) -> jax.Array:
        if cols.start not in memo:
            head = p1.take(slice(0, cols.stop))
            block = p1.take(cols)
            fx_head = jax.tree_util.tree_leaves(head.fx)
            fx_block = jax.tree_util.tree_leaves(block.fx)
            cols_ = _batched_columns(
                block, params, jvp_of(head), leaf, fx_block, per_col
            )
            nd = len(fx_head[leaf].shape)
            full = jnp.moveaxis(cols_, tuple(range(nd)), tuple(range(-nd, 0)))
            memo[cols.start] = trace_and_diagonal(full, layout)
        return jax.lax.slice_in_dim(memo[cols.start], rows.start, rows.stop, axis=pos1)

    return symmetric(compute, layout, axis, n)


def _batched_columns(p2: Prepared, params, jvp1, leaf, fx2, per_col) -> jax.Array:
    """Columns for every entry of ``f(x2)``, one example of ``x2`` at a time (chunked)."""
    axis = jax.tree_util.tree_leaves(p2.fx_axes, is_leaf=lambda a: a is None)[leaf]
    ex_shape = tuple(d for i, d in enumerate(fx2[leaf].shape) if i != axis)
    per_example = math.prod(ex_shape)
    n = p2.batch_size()

    def one_example(args: tuple[PyTree, list[Any]]) -> jax.Array:
        x, kw = args
        out, pull = jax.vjp(lambda p: p2.f_ex(p, x, kw), params)
        outs = jax.tree_util.tree_leaves(out)

        def column(k: jax.Array) -> jax.Array:
            cts = [
                jnp.zeros(o.shape, o.dtype)
                if j != leaf
                else jax.nn.one_hot(k, per_example, dtype=o.dtype).reshape(o.shape)
                for j, o in enumerate(outs)
            ]
            t = pull(
                jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out), cts)
            )[0]
            return jvp1(t)[leaf]

        return jax.vmap(column)(jnp.arange(per_example))

    # lax.map runs over axis 0: bring each mapped input's example axis there.
    def lead(v: Any, a: int | None) -> Any:
        return v if a is None else jnp.moveaxis(v, a, 0)

    x_axes = p2.x_axes
    xs = jax.tree_util.tree_map(
        lambda a, v: lead(v, a), x_axes, p2.x, is_leaf=lambda a: a is None
    )
    kws = [lead(v, a) for v, a in zip(p2.kw_leaves, p2.kw_axes, strict=True)]
    mapped_x = jax.tree_util.tree_map(
        lambda a, v: v if a is not None else None,
        x_axes,
        xs,
        is_leaf=lambda a: a is None,
    )
    static_x = jax.tree_util.tree_map(
        lambda a, v: None if a is not None else v,
        x_axes,
        xs,
        is_leaf=lambda a: a is None,
    )
    mapped_kw = [
        v if a is not None else None for v, a in zip(kws, p2.kw_axes, strict=True)
    ]

    def step(args: tuple[PyTree, list[Any]]) -> jax.Array:
        mx, mkw = args
        x = jax.tree_util.tree_map(
            lambda a, m, s: s if a is None else m,
            x_axes,
            mx,
            static_x,
            is_leaf=lambda a: a is None,
        )
        kw = [
            k if a is not None else s
            for k, s, a in zip(mkw, kws, p2.kw_axes, strict=True)
        ]
        return one_example((x, kw))

    cols = jax.lax.map(
        step, (mapped_x, mapped_kw), batch_size=chunk_size(n, per_example * per_col)
    )
    # (N2, *example shape, *fx1) -> (*fx2 shape, *fx1) with N2 at the output axis.
    cols = cols.reshape(n, *ex_shape, *cols.shape[2:])
    return jnp.moveaxis(cols, 0, axis)


def empirical_ntk_vp_fn(
    f, x1: PyTree, x2: PyTree | None, params: PyTree, **apply_fn_kwargs: Any
):
    """An NTK-vector product function ``v -> Theta(x1, x2) v``, without forming the NTK.

    Costs about ``N1 + N2`` forward passes per product and the memory of one
    vector-Jacobian product.

    Args:
      f: ``f(params, x, **kwargs)``.
      x1: first batch of inputs.
      x2: second batch of inputs; ``None`` means ``x1``.
      params: parameters the NTK is taken with respect to.
      **apply_fn_kwargs: keyword arguments of ``f``, split between ``x1`` and
        ``x2`` as in :func:`empirical_ntk_fn`.

    Returns:
      ``ntk_vp_fn(cotangents)``: ``cotangents`` shaped like ``f(params, x2)``;
      returns an array shaped like ``f(params, x1)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from nkwidgets.empirical import empirical_ntk_vp_fn, empirical_ntk_fn
      >>> f = lambda p, x: jnp.tanh(x @ p)
      >>> p = jnp.ones((3, 2)) / 3
      >>> x1, x2 = jnp.ones((4, 3)), jnp.arange(6.0).reshape(2, 3)
      >>> vp = empirical_ntk_vp_fn(f, x1, x2, p)(jnp.ones((2, 2)))
      >>> vp.shape
      (4, 2)

    References:
      Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent
      Kernel <https://arxiv.org/abs/2206.08720>`_, ICML 2022, appendix L.
    """
    from ._types import split_kwargs

    kw1, kw2 = split_kwargs(apply_fn_kwargs, x1, x2)
    f1 = lambda p: f(p, x1, **kw1)  # noqa: E731
    f2 = f1 if x2 is None else (lambda p: f(p, x2, **kw2))

    def ntk_vp_fn(cotangents: PyTree) -> PyTree:
        t = jax.vjp(f2, params)[1](cotangents)[0]
        return jax.jvp(f1, (params,), (t,))[1]

    return ntk_vp_fn
