"""Time and memory estimates of the three NTK implementations for one call signature.

Counts come from the traced graph (matmul and convolution FLOPs exactly, other
primitives by size), the Jacobian and kernel sizes, and, for structured
derivatives, ``opt_einsum``'s cost of each planned einsum. Memory is what an
implementation *materialises* at its peak: both Jacobians for contraction,
one chunk of tangents and the un-traced kernel for NTK-vector products, the
``df/dy`` arrays, factors and largest einsum intermediate for structured
derivatives, plus the activations reverse mode keeps, for every row of the
output basis that is batched together. The estimates are deliberately upper
bounds: ``tests/empirical/test_auto.py`` checks XLA's buffer assignment stays
below them.

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022, tables 1 and 2 (costs).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._implementations import KernelCall, PlanCache, contractions
from ._ir import activation_bytes, graph_flops
from ._jacobian import uses_forward_mode
from ._ntk_vector import CHUNK_BYTES, column_bytes
from ._structured import transform_factor
from ._symmetric import block_axis, block_count
from ._types import NtkImplementation

# A CPU core sustains ~25-50 GFLOP/s on float32 matmuls and ~5-10 GB/s of
# memory traffic; only the ratio matters for ranking, and it makes writing a
# byte cost about as much as five FLOPs.
FLOPS_PER_SECOND = 5e10
BYTES_PER_SECOND = 1e10


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Cost of one implementation for one call signature."""

    implementation: NtkImplementation
    flops: float
    memory_bytes: float

    @property
    def seconds(self) -> float:
        """A rough run time: FLOPs plus writing what is materialised."""
        return self.flops / FLOPS_PER_SECOND + self.memory_bytes / BYTES_PER_SECOND

    def describe(self) -> str:
        return (
            f"{self.implementation.name}: ~{self.flops / 1e9:.3g} GFLOP, "
            f"~{self.memory_bytes / 2**20:.4g} MiB, ~{self.seconds:.3g} s"
        )


@dataclasses.dataclass(frozen=True)
class _Sizes:
    n1: int
    n2: int
    out1: int  # differentiable output entries per example (whole batch if unbatched)
    out2: int
    params: int
    item: int
    kernel: int  # entries of the returned kernel(s)
    pre_trace: int  # entries before tracing (kernel x traced sizes)
    full: int  # entries of the un-traced, un-diagonalised kernel
    flops1: float  # forward FLOPs per example (or whole batch)
    flops2: float
    act1: int  # activation bytes per example (or whole batch)
    act2: int


def _sizes(call: KernelCall, cache: PlanCache) -> _Sizes:
    p1, p2 = call.p1, call.p2 or call.p1
    leaves = jax.tree_util.tree_leaves(call.params)
    item = np.dtype(jnp.result_type(*leaves)).itemsize if leaves else 4
    n1 = p1.batch_size() if p1.batched else 1
    n2 = p2.batch_size() if p2.batched else 1
    fx1 = jax.tree_util.tree_leaves(p1.fx)
    fx2 = jax.tree_util.tree_leaves(p2.fx)
    kernel = pre = full = 0
    for a, b, layout in zip(fx1, fx2, call.layouts, strict=True):
        k = math.prod(layout.kernel_shape(a.shape, b.shape))
        kernel += k
        pre += k * layout.trace_size(a.shape)
        full += math.prod(a.shape) * math.prod(b.shape)
    g1 = cache.plan(p1, call.params).graph
    g2 = g1 if call.p2 is None else cache.plan(p2, call.params).graph
    return _Sizes(
        n1=n1,
        n2=n2,
        out1=sum(math.prod(a.shape) for a in fx1) // n1,
        out2=sum(math.prod(b.shape) for b in fx2) // n2,
        params=sum(math.prod(np.shape(v)) for v in leaves),
        item=item,
        kernel=kernel,
        pre_trace=pre,
        full=full,
        flops1=graph_flops(g1),
        flops2=graph_flops(g2),
        act1=activation_bytes(g1),
        act2=activation_bytes(g2),
    )


def _symmetric_share(call: KernelCall) -> float:
    """Share of the contraction work left when ``x2=None`` lets blocks ``j < i`` be mirrored."""
    if call.p2 is not None:
        return 1.0
    fx = jax.tree_util.tree_leaves(call.p1.fx)
    fx_axes = jax.tree_util.tree_leaves(call.p1.fx_axes, is_leaf=lambda a: a is None)
    layout, shape, preferred = call.layouts[0], fx[0].shape, fx_axes[0]
    axis = block_axis(layout, shape, preferred)
    if axis is None:
        return 1.0
    b = block_count(shape[axis])
    return (b + 1) / (2 * b)


def _jacobian(call: KernelCall, s: _Sizes) -> Estimate:
    same = call.p2 is None
    fwd = uses_forward_mode(call.p1, call.params)
    rows1 = s.params if fwd else s.out1  # basis rows per example
    rows2 = s.params if fwd else s.out2
    jac = s.n1 * (s.flops1 + 2 * rows1 * s.flops1)
    if not same:
        jac += s.n2 * (s.flops2 + 2 * rows2 * s.flops2)
    contraction = 2.0 * s.pre_trace * s.params * _symmetric_share(call)
    # Each Jacobian may be copied once more: reshaped into one matrix per leaf
    # group, or sliced into blocks for a symmetric kernel.
    jacobians = 2 * (s.n1 * s.out1 + (0 if same else s.n2 * s.out2)) * s.params * s.item
    # Reverse mode keeps activations once and their cotangents once per row.
    backward = s.n1 * s.act1 * (1 + rows1)
    memory = jacobians + backward + s.kernel * s.item
    return Estimate(NtkImplementation.JACOBIAN_CONTRACTION, jac + contraction, memory)


def _ntk_vector(call: KernelCall, s: _Sizes) -> Estimate:
    columns = s.n2 * s.out2
    forward1 = s.n1 * s.flops1
    vjps = s.n2 * (s.flops2 + 2 * s.out2 * s.flops2)
    share = _symmetric_share(call) if call.p1.batched else 1.0
    flops = vjps + columns * 2.0 * forward1 * share + s.full
    per_col = column_bytes(call.p1, call.params, s.n1 * s.act1)
    chunk = max(1, min(columns, CHUNK_BYTES // max(per_col, 1)))
    memory = chunk * per_col + s.full * s.item + s.kernel * s.item + s.n1 * s.act1
    return Estimate(NtkImplementation.NTK_VECTOR_PRODUCTS, flops, memory)


def _structured(call: KernelCall, cache: PlanCache, s: _Sizes) -> Estimate:
    plans = cache.plans(call)
    same = call.p2 is None
    flops = 0.0
    memory = 0.0
    largest = 0
    for side, (plan, n, out, fl, act) in enumerate(
        (
            (plans[0], s.n1, s.out1, s.flops1, s.act1),
            (plans[1], s.n2, s.out2, s.flops2, s.act2),
        )
    ):
        if side == 1 and same:
            break
        graph = plan.graph
        probe = sum(math.prod(graph.shape(p)) for p in plan.probes)
        rows = min(out, probe) if probe else 0
        flops += n * (fl + 2 * rows * fl)
        memory += n * out * probe * s.item  # df/dy at every probe
        memory += n * act * (1 + rows)  # reverse-mode residuals and cotangents
        for ref, transform in plan.factor_keys:
            size = math.prod(_factor_shape(graph, ref, transform))
            memory += (n if (ref, transform) in plan.mapped else 1) * size * s.item
    for leaf in contractions(call, plans):
        for _, _, _, c in leaf:
            flops += c.flops
            largest = max(largest, c.largest)
    memory += largest * s.item + 2 * s.kernel * s.item
    return Estimate(NtkImplementation.STRUCTURED_DERIVATIVES, flops, memory)


def _factor_shape(graph: Any, ref: Any, transform: tuple) -> tuple[int, ...]:
    value = jax.ShapeDtypeStruct(graph.shape(ref), graph.dtype(ref))
    return tuple(jax.eval_shape(lambda v: transform_factor(v, transform), value).shape)


def estimate(call: KernelCall, cache: PlanCache) -> dict[NtkImplementation, Estimate]:
    """Estimates of implementations 1-3 for ``call``."""
    s = _sizes(call, cache)
    return {
        NtkImplementation.JACOBIAN_CONTRACTION: _jacobian(call, s),
        NtkImplementation.NTK_VECTOR_PRODUCTS: _ntk_vector(call, s),
        NtkImplementation.STRUCTURED_DERIVATIVES: _structured(call, cache, s),
    }
