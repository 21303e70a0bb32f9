"""How large a block should be when the user leaves it to us (``"auto"``).

Shared by ``batch(batch_size="auto")`` and ``Experiment(block_size="auto")``.
Sizes come from XLA's memory analysis of the compiled block function, never
from running blocks: a small probe block prices one pair of inputs, the guess
is verified by compiling, and the budget has the last word.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._memory import Budget, MemoryEstimate, fits, fitting_block_size

#: ``"auto"``: the block size is chosen from the computation's own estimate.
AUTO = "auto"

# On CPU, automatic blocks also keep each block's working set (XLA's
# estimate) within this many bytes, even when the budget allows more: CNN-GAP
# kernels ((b, b, 8, 8, 8, 8) covariances) ran 3x faster per entry in blocks of
# ~26 MB than of ~38 MB or more on a 2-core EPYC (bench/RESULTS.md), as the
# window sums then stay in cache. Accelerators get the largest fitting blocks.
FAST_CPU_BLOCK_BYTES = 24 * 2**20

#: Rows and columns of the block that prices one pair of inputs.
PROBE_BLOCK = 8

EstimateFor = Callable[[int], MemoryEstimate]


def cache_sized_block(block: int, block_bytes: int, estimate_for: EstimateFor) -> int:
    """The largest block (by compiled estimate) within FAST_CPU_BLOCK_BYTES.

    ``block`` is a size whose estimate was ``block_bytes``; memory grows about
    quadratically with the block, so the first guess scales by a square root.
    """
    b = max(1, int(block * math.sqrt(FAST_CPU_BLOCK_BYTES / block_bytes)))
    while b > 1 and estimate_for(b).block_bytes > FAST_CPU_BLOCK_BYTES:
        b = max(1, int(b * 0.8))
    return b


def auto_block_size(
    largest: int, estimate_for: EstimateFor, budget: Budget, *, at_most: int
) -> int:
    """A block size for data whose longer side has ``largest`` rows.

    No larger than ``at_most``; on CPU devices (blocks in host memory) no
    larger than a cache-friendly working set; then shrunk until the whole
    computation fits ``budget``. When nothing fits, the size is returned
    unchanged, for the budget check to say why.

    Args:
      largest: rows of the longer side of the computation.
      estimate_for: the estimate at a block size (compiles; runs nothing).
      budget: see :func:`~nkwidgets.compute._memory.resolve_budget`.
      at_most: the caller's cap (e.g. so a live picture fills in by parts).
    """
    known: dict[int, MemoryEstimate] = {}

    def estimate(b: int) -> MemoryEstimate:
        if b not in known:
            known[b] = estimate_for(b)
        return known[b]

    b = max(1, min(largest, at_most))
    probe = min(PROBE_BLOCK, b)
    priced = estimate(probe)
    if priced.pool == "host" and priced.block_bytes > 0:
        per_pair = priced.block_bytes / probe**2
        b = min(b, max(probe, int(math.sqrt(FAST_CPU_BLOCK_BYTES / per_pair))))
    if not fits(estimate(b), budget):
        fitting = fitting_block_size(estimate(b), budget, b, estimate)
        if fitting is None:
            return b
        b = fitting
    if estimate(b).pool == "host" and estimate(b).block_bytes > FAST_CPU_BLOCK_BYTES:
        b = cache_sized_block(b, estimate(b).block_bytes, estimate)
    return b
