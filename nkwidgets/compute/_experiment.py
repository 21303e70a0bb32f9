"""An Experiment: a network, a dataset, which kernels, and which predictions.

Both doors (the ``%%nk`` magic and the ``nk`` CLI) build one of these from a
spec and run it as a :class:`Job`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from ..data import Dataset
from ..kernels._layer import Layer
from ._blocks import Block, padded_block_fn, plan_blocks
from ._job import Job, JobContext


@dataclasses.dataclass(frozen=True)
class PredictSettings:
    """Predictions of the infinite network trained by gradient descent on MSE.

    ``t`` are training times (``math.inf`` = converged); ``diag_reg`` is added to
    the train kernel's diagonal relative to its mean diagonal, as in Neural
    Tangents. The default 1e-4 keeps float32 solves stable at ``t = inf``.
    """

    t: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, math.inf)
    learning_rate: float = 1.0
    diag_reg: float = 1e-4


@dataclasses.dataclass
class ExperimentResult:
    """Arrays an experiment produced, as NumPy.

    Attributes:
      kernels: ``{"nngp"|"ntk": {"train_train": (n_train, n_train),
        "test_train": (n_test, n_train)}}``.
      predictions: ``{"nngp"|"ntk": {"t": (T,), "fx_test": (T, n_test, C),
        "accuracy": (T,), "mse": (T,)}}``; MSE is the mean over test points and
        classes of the squared error.
      dataset: the data the kernels were computed on.
      seconds: wall time of the kernel computation and of the predictions.
    """

    kernels: dict[str, dict[str, np.ndarray]]
    predictions: dict[str, dict[str, np.ndarray]]
    dataset: Dataset
    seconds: dict[str, float]

    def __repr__(self) -> str:
        lines = [f"ExperimentResult on {self.dataset.name}"]
        for name, pred in self.predictions.items():
            pairs = ", ".join(
                f"t={t:g}: {a:.3f}" for t, a in zip(pred["t"], pred["accuracy"], strict=True)
            )
            lines.append(f"  {name} test accuracy  {pairs}")
        lines.append("  kernels: " + ", ".join(self.kernels))
        return "\n".join(lines)


@dataclasses.dataclass
class Experiment:
    """Everything needed to compute kernels and predictions for one network."""

    network: Layer
    dataset: Dataset
    compute: tuple[str, ...] = ("nngp", "ntk")
    predict: PredictSettings | None = dataclasses.field(default_factory=PredictSettings)
    block_size: int = 200
    dtype: str = "float32"

    def blocks(self) -> list[Block]:
        return plan_blocks(len(self.dataset.x_train), len(self.dataset.x_test), self.block_size)

    def job(self) -> Job:
        """A Job that runs this experiment when started."""
        return Job(self.run, name="experiment")

    def run(self, context: JobContext) -> ExperimentResult:
        import jax

        with jax.enable_x64(self.dtype == "float64"):
            return self._run(context)

    def _run(self, context: JobContext) -> ExperimentResult:
        ds = self.dataset
        dtype = np.float64 if self.dtype == "float64" else np.float32
        x_train, x_test = ds.x_train.astype(dtype), ds.x_test.astype(dtype)
        n_train, n_test = len(x_train), len(x_test)
        kernels = {
            name: {
                "train_train": np.full((n_train, n_train), np.nan, dtype),
                "test_train": np.full((n_test, n_train), np.nan, dtype),
            }
            for name in self.compute
        }
        blocks = self.blocks()
        context.emit("started", total=len(blocks))
        block_fn = padded_block_fn(self.network.kernel_fn, self.compute, self.block_size)
        t0 = time.monotonic()
        for done, block in enumerate(blocks, start=1):
            context.check_cancelled()
            rows = x_train if block.target == "train_train" else x_test
            values = block_fn(
                rows[block.row0 : block.row0 + block.rows],
                x_train[block.col0 : block.col0 + block.cols],
            )
            _check_block_finite(values, block)
            for name, value in values.items():
                target = kernels[name][block.target]
                target[block.row0 : block.row0 + block.rows, block.col0 : block.col0 + block.cols] = value
                if block.mirrored:
                    target[block.col0 : block.col0 + block.cols, block.row0 : block.row0 + block.rows] = value.T
            context.emit("block_done", block=block, values=values)
            context.emit("progress", done=done, total=len(blocks), elapsed=context.elapsed)
        seconds = {"kernels": time.monotonic() - t0}

        predictions: dict[str, dict[str, np.ndarray]] = {}
        if self.predict is not None:
            context.check_cancelled()
            t1 = time.monotonic()
            predictions = {
                name: predict_mse(k["train_train"], k["test_train"], ds, self.predict)
                for name, k in kernels.items()
            }
            seconds["predictions"] = time.monotonic() - t1
            context.emit("prediction", predictions=predictions)
        return ExperimentResult(kernels, predictions, ds, seconds)


def predict_mse(
    k_train_train: np.ndarray,
    k_test_train: np.ndarray,
    ds: Dataset,
    settings: PredictSettings,
) -> dict[str, np.ndarray]:
    """Test predictions of gradient descent on MSE at every ``settings.t``."""
    from .. import predict

    predict_fn = predict.gradient_descent_mse(
        k_train_train,
        ds.y_train.astype(k_train_train.dtype),
        learning_rate=settings.learning_rate,
        diag_reg=settings.diag_reg,
    )
    t = np.asarray(settings.t, dtype=k_train_train.dtype)
    _, fx_test = predict_fn(t=t, fx_train_0=0.0, fx_test_0=0.0, k_test_train=k_test_train)
    fx_test = np.asarray(fx_test)
    accuracy = (fx_test.argmax(-1) == ds.labels_test[None, :]).mean(-1)
    mse = ((fx_test - ds.y_test[None]) ** 2).mean((-2, -1))
    return {"t": np.asarray(settings.t, float), "fx_test": fx_test, "accuracy": accuracy, "mse": mse}


def _check_block_finite(values: dict[str, Any], block: Block) -> None:
    from ..errors import NKError

    for name, value in values.items():
        if not np.all(np.isfinite(value)):
            raise NKError(
                f"The {name} block {block.target}[{block.row0}:{block.row0 + block.rows}, "
                f"{block.col0}:{block.col0 + block.cols}] contains NaN or inf: the kernel "
                "overflowed or the inputs hold non-finite values. Fix: lower W_std or the "
                "depth, standardize the inputs, or compute in float64 (dtype = float64)."
            )


def format_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:.0f} s"


