r"""Graph aggregation (message passing) and its kernel.

``Aggregate`` replaces every vertex of a graph by the weighted sum of its
predecessors: for inputs ``(N, V, C)`` and an adjacency ``A`` of shape
``(N, V, V)`` (``A[n, i, j]`` = weight of the arc ``i -> j`` in graph ``n``),
``out[n, j] = sum_i x[n, i] A[n, i, j]``, on each channel. It is linear, so
covariances between vertex pairs transform as

.. math:: K'_{12} = A_1^\top K_{12} A_2, \qquad \Theta'_{12} = A_1^\top \Theta_{12} A_2

(Du et al. 2019, "Graph Neural Tangent Kernel: Fusing Graph Neural Networks
with Graph Kernels", sec. 4; Neural Tangents' ``Aggregate``), which needs the
covariance of every vertex pair: the layer asks for the full spatial layout.
Vertices may span several axes (``aggregate_axis``); axes not aggregated are
carried along.

The graph is given at call time: ``apply_fn(params, x, pattern=A)`` and
``kernel_fn(x1, x2, pattern=(A1, A2))`` (``pattern=A1`` alone when ``x2`` is
None). ``implementation="SPARSE"`` takes integer edge lists ``(N, E, K, 2)``
(tail, head coordinates; a negative coordinate marks a padding edge) and
scatters them into the dense adjacency.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LayerError
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer
from ._masking import KEEP

IMPLEMENTATIONS = ("DENSE", "SPARSE")


def Aggregate(
    aggregate_axis: int | Sequence[int] | None = None,
    batch_axis: int = 0,
    channel_axis: int = -1,
    to_dense: Callable[[Any], Any] | None = lambda p: p,
    implementation: str = "DENSE",
) -> Layer:
    """Graph aggregation, as Neural Tangents' ``Aggregate``.

    Args:
      aggregate_axis: input axes that index vertices (``None``: every axis
        but the batch and channel axes).
      batch_axis, channel_axis: axes of the inputs.
      to_dense: ``DENSE`` only: turns the given ``pattern`` into the dense
        ``(N, *V, *V)`` adjacency on every call (identity by default).
      implementation: ``"DENSE"`` (adjacency tensors) or ``"SPARSE"``
        (integer edge lists ``(N, E, K, 2)``, or ``(N, E, 2)`` for one axis).
    """
    name = "Aggregate"
    impl = str(implementation).upper()
    if impl not in IMPLEMENTATIONS:
        raise LayerError(
            name,
            f"`implementation={implementation!r}` is not known.",
            "use 'DENSE' (adjacency tensors) or 'SPARSE' (edge lists).",
        )
    if to_dense is not None and not callable(to_dense):
        raise LayerError(
            name,
            f"`to_dense={to_dense!r}` is not callable.",
            "pass a function or None.",
        )

    def axes_of(ndim: int) -> tuple[int, int, list[int], list[int]]:
        """batch, channel, spatial axes, and the aggregated spatial axes."""
        b, c = batch_axis % ndim, channel_axis % ndim
        spatial = [a for a in range(ndim) if a not in (b, c)]
        if aggregate_axis is None:
            agg = list(spatial)
        else:
            raw = (
                (aggregate_axis,) if isinstance(aggregate_axis, int) else aggregate_axis
            )
            agg = sorted({int(a) % ndim for a in raw})
            wrong = [a for a in agg if a not in spatial]
            if wrong:
                raise LayerError(
                    name,
                    f"`aggregate_axis={aggregate_axis!r}` includes the batch or "
                    f"channel axis ({wrong}).",
                    "aggregate over vertex axes only, e.g. aggregate_axis=1 for "
                    "(N, V, C) inputs.",
                )
        return b, c, spatial, agg

    def dense_pattern(pattern: Any, shape: Sequence[int], which: str) -> jax.Array:
        """The ``(N, *V, *V)`` adjacency for inputs of ``shape``."""
        b, _, _, agg = axes_of(len(shape))
        n = shape[b]
        vertices = tuple(shape[a] for a in agg)
        if impl == "SPARSE":
            a = _edges_to_dense(name, pattern, n, vertices, which)
        else:
            a = jnp.asarray(pattern if to_dense is None else to_dense(pattern))
        want = (n, *vertices, *vertices)
        if tuple(a.shape) != want:
            raise LayerError(
                name,
                f"`{which}` has shape {tuple(a.shape)}, but inputs of shape "
                f"{tuple(shape)} need an adjacency of shape {want} (batch, then "
                "the vertex axes twice: tails, then heads).",
                "give one adjacency per example over the aggregated axes, or "
                "set aggregate_axis to match it.",
            )
        return a

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return tuple(input_shape), ()

    def apply_fn(
        params: Any, inputs: jax.Array, pattern: Any = None, **kwargs: Any
    ) -> jax.Array:
        del params, kwargs
        if pattern is None:
            return inputs
        a = dense_pattern(pattern, inputs.shape, "pattern").astype(inputs.dtype)
        b, _, _, agg = axes_of(inputs.ndim)
        letters = iter(string.ascii_letters)
        idx = [next(letters) for _ in range(inputs.ndim)]
        heads = {ax: next(letters) for ax in agg}
        a_spec = (
            idx[b] + "".join(idx[ax] for ax in agg) + "".join(heads[ax] for ax in agg)
        )
        out = [heads.get(ax, idx[ax]) for ax in range(inputs.ndim)]
        return jnp.einsum(
            f"{''.join(idx)},{a_spec}->{''.join(out)}",
            inputs,
            a,
            precision=jax.lax.Precision.HIGHEST,
        )

    def kernel_transform(k: Kernel, pattern: Any = None, **kwargs: Any) -> Kernel:
        del kwargs
        if pattern is None:
            return k
        if isinstance(pattern, list | tuple):
            if len(pattern) != 2:
                raise LayerError(
                    name,
                    f"`pattern` is a sequence of {len(pattern)}, not a pair.",
                    "pass pattern=(A1, A2) for kernel_fn(x1, x2), or pattern=A1 "
                    "for kernel_fn(x1, None).",
                )
            p1, p2 = pattern
        else:
            p1, p2 = pattern, None
        if p1 is None and p2 is None:
            return k
        if p2 is None and k.cov2 is None:
            p2 = p1
        if p1 is None or p2 is None:
            raise LayerError(
                name,
                "got a graph for only one of x1 and x2.",
                "pass pattern=(A1, A2), one adjacency batch for each input.",
            )
        ndim = len(k.shape1)
        _, _, spatial, agg = axes_of(ndim)
        if k.diagonal_spatial and spatial:
            raise LayerError(
                name,
                "received only same-vertex covariances, but aggregation mixes "
                "vertices and needs every pair.",
                "call the network's kernel_fn on raw inputs (it then keeps all "
                "vertex pairs).",
            )
        a1 = dense_pattern(p1, k.shape1, "pattern[0]").astype(k.nngp.dtype)
        a2 = dense_pattern(p2, k.shape2, "pattern[1]").astype(k.nngp.dtype)
        dims = [spatial.index(a) for a in agg]

        def spec(batch: str, a_first: Any, a_second: Any, x: jax.Array) -> Any:
            letters = iter(ch for ch in string.ascii_letters if ch not in "xy")
            first = [next(letters) for _ in spatial]
            second = [next(letters) for _ in spatial]
            head1 = {d: next(letters) for d in dims}
            head2 = {d: next(letters) for d in dims}
            ins = batch + "".join(f + s for f, s in zip(first, second, strict=True))
            outs = batch + "".join(
                head1.get(d, first[d]) + head2.get(d, second[d])
                for d in range(len(spatial))
            )
            b1, b2 = batch[0], batch[-1]
            s1 = b1 + "".join(first[d] for d in dims) + "".join(head1[d] for d in dims)
            s2 = b2 + "".join(second[d] for d in dims) + "".join(head2[d] for d in dims)
            return jnp.einsum(
                f"{ins},{s1},{s2}->{outs}",
                x,
                a_first,
                a_second,
                precision=jax.lax.Precision.HIGHEST,
            )

        def both(x: jax.Array | None) -> jax.Array | None:
            if x is None or jnp.ndim(x) == 0:
                return x
            return spec("xy", a1, a2, x)

        return k.replace(
            nngp=both(k.nngp),
            ntk=both(k.ntk),
            cov1=spec("x", a1, a1, k.cov1),
            cov2=None if k.cov2 is None else spec("x", a2, a2, k.cov2),
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        requirements=Requirements(
            spatial="full", batch_axis=batch_axis, channel_axis=channel_axis
        ),
        masking=KEEP,
    )


def _edges_to_dense(
    name: str, edges: Any, n: int, vertices: tuple[int, ...], which: str
) -> jax.Array:
    """Scatter integer edge lists ``(N, E, K, 2)`` into ``(N, *V, *V)`` counts."""
    e = jnp.asarray(edges)
    k = len(vertices)
    if e.ndim == 3 and k == 1:
        e = e[:, :, None, :]
    if (
        e.ndim != 4
        or e.shape[0] != n
        or e.shape[2] != k
        or e.shape[3] != 2
        or not jnp.issubdtype(e.dtype, jnp.integer)
    ):
        raise LayerError(
            name,
            f"`{which}` of shape {tuple(e.shape)} and dtype {e.dtype} is not an "
            f"edge list for {n} graphs over {k} vertex axes.",
            f"pass integers of shape ({n}, n_edges, {k}, 2) (tail and head "
            "coordinates), or use implementation='DENSE' with adjacency tensors.",
        )
    tails, heads = e[..., 0], e[..., 1]
    valid = jnp.all(tails >= 0, -1) & jnp.all(heads >= 0, -1)
    size = int(np.prod(vertices))
    t = jnp.ravel_multi_index(tuple(jnp.moveaxis(tails, -1, 0)), vertices, mode="wrap")
    h = jnp.ravel_multi_index(tuple(jnp.moveaxis(heads, -1, 0)), vertices, mode="wrap")
    flat = jnp.zeros((n, size * size))
    idx = jnp.where(valid, t * size + h, size * size)
    flat = jax.vmap(lambda f, i: f.at[i].add(1.0, mode="drop"))(flat, idx)
    return flat.reshape((n, *vertices, *vertices))
