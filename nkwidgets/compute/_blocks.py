"""Splitting kernel matrices into blocks that are computed one at a time.

Blocks are what streams to the page and what a cancel waits for, so their size
trades responsiveness against per-call overhead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Block:
    """Rows ``row0:row0+rows`` and columns ``col0:col0+cols`` of one kernel matrix.

    ``target`` names the matrix: ``"train_train"`` (rows and columns index the
    training set) or ``"test_train"`` (rows index the test set).
    """

    target: str
    row0: int
    rows: int
    col0: int
    cols: int

    @property
    def mirrored(self) -> bool:
        """Whether the transposed block fills the lower triangle too."""
        return self.target == "train_train" and self.row0 != self.col0


def plan_blocks(n_train: int, n_test: int, block_size: int) -> list[Block]:
    """All blocks needed for the train-train and test-train kernels.

    The train-train kernel is symmetric, so only blocks on or above the
    diagonal are computed; each off-diagonal one also fills its mirror image.
    """
    if block_size < 1:
        raise ValueError(f"`block_size={block_size}` must be a positive integer.")
    starts = range(0, n_train, block_size)
    blocks = [
        Block("train_train", r, min(block_size, n_train - r), c, min(block_size, n_train - c))
        for r in starts
        for c in starts
        if c >= r
    ]
    blocks += [
        Block("test_train", r, min(block_size, n_test - r), c, min(block_size, n_train - c))
        for r in range(0, n_test, block_size)
        for c in starts
    ]
    return blocks


def padded_block_fn(
    kernel_fn: Callable[..., Any], get: tuple[str, ...], block_size: int
) -> Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """A compiled ``(x1, x2) -> {name: block}`` that compiles once per block size.

    Edge blocks are padded to ``block_size`` by repeating their last row (real
    data, so no layer sees a degenerate all-zero input) and cropped afterwards.
    """
    import jax

    compiled = jax.jit(lambda a, b: kernel_fn(a, b, get))

    def pad(x: np.ndarray) -> np.ndarray:
        missing = block_size - len(x)
        if missing <= 0:
            return x
        return np.concatenate([x, np.repeat(x[-1:], missing, axis=0)])

    def run(x1: np.ndarray, x2: np.ndarray) -> dict[str, np.ndarray]:
        out = compiled(pad(x1), pad(x2))
        return {
            name: np.asarray(value)[: len(x1), : len(x2)]
            for name, value in zip(get, out, strict=True)
        }

    return run
