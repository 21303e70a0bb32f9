"""Errors of the compute floor: each says what went wrong and what to change."""

from __future__ import annotations

from ..errors import NKError


class MemoryBudgetError(NKError, MemoryError):
    """A computation whose estimated peak memory exceeds the budget.

    Raised before any block computes. ``estimate`` and ``budget`` are bytes;
    ``fitting_block_size`` is the largest block size found to fit, or ``None``
    when the result arrays alone exceed the budget.
    """

    def __init__(
        self,
        message: str,
        *,
        estimate: int,
        budget: int,
        fitting_block_size: int | None,
    ):
        super().__init__(message)
        self.estimate = estimate
        self.budget = budget
        self.fitting_block_size = fitting_block_size


class BlockError(NKError, RuntimeError):
    """The kernel function raised while computing (or compiling) a block.

    The message names the block and repeats the original error, which is also
    kept as ``__cause__`` and ``original``.
    """

    def __init__(self, where: str, original: BaseException):
        self.where = where
        self.original = original
        super().__init__(f"{where}: {type(original).__name__}: {original}")


class DeviceCountError(NKError, ValueError):
    """More devices were asked for than this process has."""


class CacheError(NKError, ValueError):
    """A block cache that cannot be used as configured."""
