"""AUTO: choose the NTK implementation by estimated time, within a memory budget.

Neural Tangents' AUTO compiled every implementation and ranked them by XLA's
FLOP count alone, which was unreliable on CPU / GPU and ignored memory, so it
could pick a method that did not fit. Here each call signature gets an estimate
(:mod:`._cost`) of time *and* peak memory per implementation; methods over the
budget are excluded, the fastest remaining one runs, and when none fits the
call fails before any work with the largest batch size that would fit.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Final

import jax
import numpy as np

from nkwidgets.errors import DOCS_ERRORS_URL, NKError

from ._cost import Estimate, estimate
from ._implementations import KernelCall, Options, PlanCache, make_call
from ._types import NtkImplementation, PyTree

logger = logging.getLogger("nkwidgets.empirical")

# Without an explicit budget, leave half of what is free to everything else:
# the kernel is rarely the only large array in a notebook.
DEFAULT_BUDGET_FRACTION: Final = 0.5

MSG_OVER_BUDGET: Final = (
    "Every NTK implementation needs more memory than `memory_budget` "
    "({budget}) for inputs of {n1} x {n2} examples:\n{estimates}\n"
    "Fix: {fix} (See {url}#memorybudgeterror.)"
)
_FIX_BLOCKS: Final = (
    "compute the kernel in blocks of at most {n} examples of `x1` and `x2` "
    "(e.g. `ntk_fn(x1[i:i + {n}], x2[j:j + {n}], params)` in a loop), or pass a "
    "larger `memory_budget` to `empirical_ntk_fn` if the machine has it."
)
_FIX_NOTHING_FITS: Final = (
    "not even one example per block fits. Pass a larger `memory_budget`, or "
    "shrink the kernel: trace the logits (`trace_axes=(-1,)`), keep only the "
    "diagonal (`diagonal_axes`), or declare `vmap_axes` if examples are "
    "independent."
)


class MemoryBudgetError(NKError, MemoryError):
    """AUTO found no NTK implementation that fits the memory budget.

    Attributes:
      estimates: the per-implementation estimates that were over budget.
      suggested_batch_size: the largest number of examples per block of ``x1``
        and ``x2`` for which some implementation fits (``0`` when even one
        example does not).
    """

    def __init__(self, message: str, estimates: dict, suggested_batch_size: int):
        super().__init__(message)
        self.estimates = estimates
        self.suggested_batch_size = suggested_batch_size


@dataclasses.dataclass(frozen=True)
class Decision:
    """What AUTO chose for one call signature, and why."""

    implementation: NtkImplementation
    estimates: dict[NtkImplementation, Estimate]
    memory_budget: int

    def __str__(self) -> str:
        lines = [e.describe() for e in self.estimates.values()]
        return (
            f"AUTO chose {self.implementation.name} (budget "
            f"{_gib(self.memory_budget)}): " + "; ".join(lines)
        )


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def default_memory_budget() -> int:
    """Half the memory free on the default device now (host RAM on CPU)."""
    device = jax.devices()[0]
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - backends without stats (CPU) raise or return None
        stats = None
    if stats and "bytes_limit" in stats:
        free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = 8 * 2**30
    return int(free * DEFAULT_BUDGET_FRACTION)


def _batch_sizes(call: KernelCall) -> tuple[int, int]:
    def n(p: Any) -> int:
        if p.batched:
            return p.batch_size()
        leaves = jax.tree_util.tree_leaves(p.x)
        return int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 1

    return n(call.p1), n(call.p2 or call.p1)


def _slice(x: PyTree, axes: PyTree, batched: bool, n: int) -> PyTree:
    def one(v: Any, a: int | None) -> Any:
        if a is None or np.ndim(v) == 0:
            return v
        shape = list(np.shape(v))
        shape[a] = min(shape[a], n)
        return jax.ShapeDtypeStruct(tuple(shape), v.dtype)

    if batched:
        return jax.tree_util.tree_map(
            lambda a, v: one(v, a), axes, x, is_leaf=lambda a: a is None
        )
    return jax.tree_util.tree_map(lambda v: one(v, 0), x)


def _fits(
    f: Any,
    call: KernelCall,
    n: int,
    kwargs: dict,
    opts: Options,
    cache: PlanCache,
    budget: int,
) -> bool:
    p1 = call.p1
    x1 = _slice(p1.x, p1.x_axes, p1.batched, n)
    x2 = (
        None
        if call.p2 is None
        else _slice(call.p2.x, call.p2.x_axes, call.p2.batched, n)
    )
    flat, tree = jax.tree_util.tree_flatten(kwargs, is_leaf=lambda v: v is None)
    axes = iter(p1.kw_axes)
    flat = [
        _slice(v, next(axes), True, n)
        if hasattr(v, "shape") and hasattr(v, "dtype")
        else v
        for v in flat
    ]
    kwargs = jax.tree_util.tree_unflatten(tree, flat)
    smaller = make_call(f, x1, x2, call.params, kwargs, opts)
    return min(e.memory_bytes for e in estimate(smaller, cache).values()) <= budget


def _suggest(
    f: Any, call: KernelCall, kwargs: dict, opts: Options, cache: PlanCache, budget: int
) -> int:
    n = max(_batch_sizes(call))
    while n > 1:
        n //= 2
        if _fits(f, call, n, kwargs, opts, cache, budget):
            return n
    return 0


def choose(
    f: Any,
    call: KernelCall,
    kwargs: dict,
    opts: Options,
    cache: PlanCache,
    budget: int | None,
) -> Decision:
    """The fastest implementation whose estimated peak memory is within ``budget``."""
    budget = default_memory_budget() if budget is None else int(budget)
    est = estimate(call, cache)
    feasible = [e for e in est.values() if e.memory_bytes <= budget]
    if not feasible:
        n1, n2 = _batch_sizes(call)
        suggest = _suggest(f, call, kwargs, opts, cache, budget)
        fix = _FIX_BLOCKS.format(n=suggest) if suggest else _FIX_NOTHING_FITS
        raise MemoryBudgetError(
            MSG_OVER_BUDGET.format(
                budget=_gib(budget),
                n1=n1,
                n2=n2,
                estimates="\n".join(f"  {e.describe()}" for e in est.values()),
                fix=fix,
                url=DOCS_ERRORS_URL,
            ),
            est,
            suggest,
        )
    best = min(feasible, key=lambda e: e.seconds)
    decision = Decision(best.implementation, est, budget)
    logger.info("%s", decision)
    return decision
