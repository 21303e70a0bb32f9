"""Memory estimates before any work starts, and the budget they are held to.

A kernel job that runs out of memory dies hours in, often taking the notebook
with it. XLA knows, once a block function is compiled, how many bytes one block
needs (arguments, outputs, temporaries); the result arrays on the host are a
product of sizes. Both are known before the first block runs, so an
over-budget request is refused with a block size that fits instead.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

from ._errors import MemoryBudgetError

#: Share of available memory a job may plan to use by default. Half leaves room
#: for the notebook, the OS page cache and XLA's own allocator slack, which the
#: compiled estimate does not see.
DEFAULT_BUDGET_FRACTION = 0.5

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(
    r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE
)
_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")

BUDGET_HELP = (
    'a memory budget is bytes (an integer), a size such as "8GB", "512MB" or '
    '"1.5GiB", or a share of available memory such as "50%".'
)


def parse_budget(value: int | float | str | None) -> int | float | None:
    """Bytes (int), a fraction of available memory (float in (0, 1]), or None.

    Raises:
      ValueError: the text is not a size; the message says which forms work.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"`budget={value!r}` is not a size; {BUDGET_HELP}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"`budget={value}` must be positive; {BUDGET_HELP}")
        return value
    if isinstance(value, float):
        if not 0 < value <= 1:
            raise ValueError(
                f"`budget={value}` as a float is a share of memory in (0, 1]; {BUDGET_HELP}"
            )
        return value
    text = str(value)
    percent = _PERCENT.match(text)
    if percent:
        share = float(percent.group(1)) / 100
        if not 0 < share <= 1:
            raise ValueError(f"`budget={text!r}` must be a share between 0% and 100%.")
        return share
    match = _SIZE.match(text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"`budget={text!r}` is not a size; {BUDGET_HELP}")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError(f"`budget={text!r}` must be positive.")
    return size


def format_bytes(n: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as budgets are written)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def host_available_bytes() -> int:
    """``MemAvailable`` from /proc/meminfo: what can be allocated without swapping."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    # Not Linux: total physical memory is the best cheap stand-in.
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def device_available_bytes(device: Any) -> int | None:
    """Free memory of an accelerator, or None where the device reports none (CPU)."""
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - backends without stats raise various errors
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a blocked computation needs, from XLA's analysis of the block function.

    Attributes:
      block_bytes: one block on one device: arguments + outputs + temporaries.
      blocks_in_flight: blocks that share one memory pool at a time (all local
        devices for CPU devices, which share host memory; 1 for accelerators).
      result_bytes: the host arrays that hold the finished result.
      staging_bytes: host copies of one wave's outputs on their way to the result.
      pool: ``"host"`` or ``"device"``: where the blocks live.
      analysed: False if XLA gave no analysis and only arguments and outputs
        were counted (a lower bound).
    """

    block_bytes: int
    blocks_in_flight: int
    result_bytes: int
    staging_bytes: int
    pool: str
    analysed: bool = True

    @property
    def peak_bytes(self) -> int:
        """Peak of the pool the blocks live in (host memory also holds the result)."""
        blocks = self.block_bytes * self.blocks_in_flight
        if self.pool == "host":
            return blocks + self.result_bytes + self.staging_bytes
        return blocks

    @property
    def host_bytes(self) -> int:
        return (
            self.result_bytes
            + self.staging_bytes
            + (self.block_bytes * self.blocks_in_flight if self.pool == "host" else 0)
        )


def compiled_block_bytes(compiled: Any) -> tuple[int, bool]:
    """Per-device bytes of a compiled block function, and whether XLA analysed it."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend implements it
        stats = None
    if stats is None:
        return 0, False
    total = (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )
    return int(total), True


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many bytes a job may use in each memory pool, and where that came from."""

    device: int | None
    host: int
    source: str

    def for_pool(self, pool: str) -> int:
        return (
            self.device if pool == "device" and self.device is not None else self.host
        )


def resolve_budget(requested: int | float | str | None, device: Any) -> Budget:
    """The budget for a job on ``device``'s platform.

    A byte count applies to the pool the blocks live in (device memory where
    the device reports it, else host memory); a share, or the default
    :data:`DEFAULT_BUDGET_FRACTION`, is taken of what is available now.
    """
    value = parse_budget(requested)
    share = DEFAULT_BUDGET_FRACTION if value is None else value
    host_free = host_available_bytes()
    device_free = device_available_bytes(device)
    if isinstance(share, float):
        how = "default " if value is None else ""
        pool = "device" if device_free is not None else "host"
        source = f"{how}{share:.0%} of available {pool} memory"
        host = int(host_free * share)
        device_budget = int(device_free * share) if device_free is not None else None
        return Budget(device_budget, host, source)
    if device_free is not None:
        return Budget(share, int(host_free * DEFAULT_BUDGET_FRACTION), "requested")
    return Budget(None, share, "requested")


def check_budget(
    estimate: MemoryEstimate,
    budget: Budget,
    *,
    block_size: int,
    estimate_for: Callable[[int], MemoryEstimate],
    setting: str,
) -> None:
    """Raise :class:`MemoryBudgetError` unless ``estimate`` fits ``budget``.

    Args:
      estimate: the plan as requested.
      budget: see :func:`resolve_budget`.
      block_size: the requested block size.
      estimate_for: re-plans at another block size (compiles; no block runs).
      setting: how the user sets the block size, for the message
        (``"block_size"`` in a spec, ``"batch_size"`` for ``batch``).
    """
    limit = budget.for_pool(estimate.pool)
    host_limit = budget.host
    if estimate.peak_bytes <= limit and estimate.host_bytes <= host_limit:
        return
    fitting = fitting_block_size(estimate, budget, block_size, estimate_for)
    over = estimate.peak_bytes if estimate.peak_bytes > limit else estimate.host_bytes
    over_limit = limit if estimate.peak_bytes > limit else host_limit
    pool = estimate.pool if estimate.peak_bytes > limit else "host"
    lower = "" if estimate.analysed else " (at least; XLA gave no analysis)"
    head = (
        f"this computation needs an estimated {format_bytes(over)}{lower} of {pool} memory "
        f"({format_bytes(estimate.block_bytes)} per block x {estimate.blocks_in_flight} "
        f"in flight, {format_bytes(estimate.result_bytes)} of result arrays), over the "
        f"budget of {format_bytes(over_limit)} ({budget.source})."
    )
    if fitting is not None:
        fix = (
            f" Fix: set `{setting} = {fitting}` (fits in "
            f"{format_bytes(estimate_for(fitting).peak_bytes)}), or raise the budget."
        )
    else:
        fix = (
            " No block size fits: the result arrays alone exceed it. Fix: use fewer "
            "data points, compute one kernel instead of two, use float32 rather than float64, or raise "
            "the budget."
        )
    raise MemoryBudgetError(
        head + fix, estimate=over, budget=over_limit, fitting_block_size=fitting
    )


def fits(e: MemoryEstimate, budget: Budget) -> bool:
    """Whether ``e`` stays within ``budget`` in its pool and on the host."""
    return e.peak_bytes <= budget.for_pool(e.pool) and e.host_bytes <= budget.host


# Block memory grows about quadratically in the block size (b x b kernels and
# their intermediates), so the first guess scales by a square root; the guess is
# then verified by compiling, halving on a miss. A few compiles, no blocks run.
_MAX_TRIES = 8


def fitting_block_size(
    estimate: MemoryEstimate,
    budget: Budget,
    block_size: int,
    estimate_for: Callable[[int], MemoryEstimate],
) -> int | None:
    # Only the result arrays are independent of the block size; staging copies
    # of a wave's outputs shrink with the blocks like the blocks themselves.
    fixed = estimate.result_bytes
    room = budget.for_pool(estimate.pool) - (fixed if estimate.pool == "host" else 0)
    if room <= 0 or fixed >= budget.host:
        return None
    per_wave = estimate.block_bytes * estimate.blocks_in_flight + (
        estimate.staging_bytes if estimate.pool == "host" else 0
    )
    scale = math.sqrt(room / max(per_wave, 1))
    candidate = max(1, min(block_size - 1, int(block_size * scale)))
    for _ in range(_MAX_TRIES):
        if fits(estimate_for(candidate), budget):
            return candidate
        if candidate == 1:
            return None
        candidate = max(1, candidate // 2)
    return None
