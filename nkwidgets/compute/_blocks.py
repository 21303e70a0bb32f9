"""Splitting kernel matrices into blocks.

Blocks are what streams to the page, what the cache stores and what a cancel
waits for, so their size trades responsiveness against per-call overhead.
"""

from __future__ import annotations

import dataclasses

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
    def label(self) -> str:
        """``train_train[0:50, 50:100]``: how messages name the block."""
        return (
            f"{self.target}[{self.row0}:{self.row0 + self.rows}, "
            f"{self.col0}:{self.col0 + self.cols}]"
        )

    @property
    def file_name(self) -> str:
        """Name of the block in a cache directory."""
        return f"{self.target}-r{self.row0}-c{self.col0}"

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
        Block(
            "train_train",
            r,
            min(block_size, n_train - r),
            c,
            min(block_size, n_train - c),
        )
        for r in starts
        for c in starts
        if c >= r
    ]
    blocks += [
        Block(
            "test_train",
            r,
            min(block_size, n_test - r),
            c,
            min(block_size, n_train - c),
        )
        for r in range(0, n_test, block_size)
        for c in starts
    ]
    return blocks


def pad_rows(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` with rows appended up to ``size`` by repeating its last row.

    Edge blocks are padded so every block has one shape (one compilation);
    repeating real data, rather than zeros, keeps every layer away from the
    degenerate all-zero input. The padded rows are cropped afterwards.
    """
    missing = size - len(x)
    if missing <= 0:
        return x
    return np.concatenate([x, np.repeat(x[-1:], missing, axis=0)])
