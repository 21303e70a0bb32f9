"""An Experiment: a network, a dataset, which kernels, and which predictions.

Both doors (the ``%%nk`` magic and the ``nk`` CLI) build one of these from a
spec and run it as a :class:`Job`. The kernels are computed blockwise on the
device mesh (``_mesh.py``), checked against the memory budget first
(``_memory.py``), and resumed from the block cache when one is set
(``_cache.py``); every block is still published on its own, so widgets stream.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import NKError
from ..kernels._layer import Layer
from ._block_size import AUTO
from ._blocks import Block, plan_blocks
from ._errors import CacheError
from ._job import Job, JobCancelled, JobContext
from ._prediction import PredictSettings, predict_mse, probe_indices
from ._runner import ExperimentRunner, choose_block_size


@dataclasses.dataclass
class ExperimentResult:
    """Arrays an experiment produced, as NumPy.

    Attributes:
      kernels: ``{"nngp"|"ntk": {"train_train": (n_train, n_train),
        "test_train": (n_test, n_train)}}``; entries of blocks not computed
        (a cancelled job's partial result) are NaN.
      predictions: ``{"nngp"|"ntk": {"t": (T,), "fx_test": (T, n_test, C),
        "accuracy": (T,), "mse": (T,), ...}}``; MSE is the mean over test points
        and classes of the squared error; the other keys (train scores, the dense
        time grid, probe points with their ensemble standard deviation) are
        listed in :func:`nkwidgets.compute._prediction.predict_mse`.
      dataset: the data the kernels were computed on.
      seconds: wall time of the kernel computation and of the predictions.
      blocks: ``{"total", "computed", "reused"}``: blocks planned, computed by
        this run, and read back from the cache; under ``jax.distributed`` also
        ``"computed_here"``, the share this process computed.
    """

    kernels: dict[str, dict[str, np.ndarray]]
    predictions: dict[str, dict[str, np.ndarray]]
    dataset: Dataset
    seconds: dict[str, float]
    blocks: dict[str, int] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        lines = [f"ExperimentResult on {self.dataset.name}"]
        for name, pred in self.predictions.items():
            pairs = ", ".join(
                f"t={t:g}: {a:.3f}"
                for t, a in zip(pred["t"], pred["accuracy"], strict=True)
            )
            lines.append(f"  {name} test accuracy  {pairs}")
        lines.append("  kernels: " + ", ".join(self.kernels))
        if self.blocks:
            lines.append(
                f"  blocks: computed {self.blocks['computed']} of {self.blocks['total']}, "
                f"reused {self.blocks['reused']} from cache"
            )
        return "\n".join(lines)


@dataclasses.dataclass
class Experiment:
    """Everything needed to compute kernels and predictions for one network.

    Attributes:
      network: the layer whose ``kernel_fn`` is computed.
      dataset: train/test data.
      compute: kernels to compute, ``"nngp"`` and/or ``"ntk"``.
      predict: gradient-descent predictions, or None.
      block_size: rows and columns per block, or ``"auto"``: chosen from the
        compiled block's memory estimate (cache-sized blocks on CPU, the largest
        that fit the budget on accelerators, at most a quarter of the data per
        side so the picture fills in by parts), or the size of this
        computation's blocks already in ``cache_dir``. The size used is
        :attr:`chosen_block_size`.
      dtype: ``"float32"`` or ``"float64"``.
      devices: local devices to use (None: all).
      cache_dir: directory of the block cache that makes runs resumable (None:
        no cache). Needs ``description``.
      budget: memory budget: bytes, ``"8GB"``, ``"50%"``; None: 50% of what is
        available.
      description: a stable text describing the network (the spec's JSON); it
        keys the cache, since a network object cannot be hashed reliably.
    """

    network: Layer
    dataset: Dataset
    compute: tuple[str, ...] = ("nngp", "ntk")
    predict: PredictSettings | None = dataclasses.field(default_factory=PredictSettings)
    block_size: int | str = AUTO
    dtype: str = "float32"
    devices: int | None = None
    cache_dir: str | None = None
    budget: int | float | str | None = None
    description: str | None = None
    _chosen_block_size: int | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )
    # The block function compiled while choosing the size, kept for the run.
    _chosen_runner: ExperimentRunner | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        size = self.block_size
        if size != AUTO and not (
            isinstance(size, int | np.integer)
            and not isinstance(size, bool)
            and size > 0
        ):
            raise NKError(
                f"`block_size={size!r}` must be a positive integer (rows and columns "
                f"per block) or {AUTO!r} (chosen from the memory estimate)."
            )

    @property
    def chosen_block_size(self) -> int:
        """``block_size``, or what ``"auto"`` chose (decided once, on first use)."""
        if self.block_size != AUTO:
            return int(self.block_size)
        if self._chosen_block_size is None:
            import jax

            with jax.enable_x64(self.dtype == "float64"):
                size, runner = choose_block_size(self)
            self._chosen_block_size, self._chosen_runner = size, runner
        return self._chosen_block_size

    def _runner(self) -> ExperimentRunner:
        """The compiled block function at ``chosen_block_size``."""
        size = self.chosen_block_size
        runner, self._chosen_runner = self._chosen_runner, None
        if runner is not None and runner.block_size == size:
            return runner
        return ExperimentRunner(self)

    def blocks(self) -> list[Block]:
        return plan_blocks(
            len(self.dataset.x_train), len(self.dataset.x_test), self.chosen_block_size
        )

    def job(self) -> Job:
        """A Job that runs this experiment when started."""
        return Job(self.run, name="experiment")

    def cache_facts(self, block_size: int | None = None) -> dict[str, Any]:
        """Everything that decides the block values; hashed into the cache key.

        ``block_size``: the facts of this computation at another block size
        (default: :attr:`chosen_block_size`), to find its earlier blocks.
        """
        from .. import __version__

        if self.description is None:
            raise CacheError(
                "a block cache needs a description of the network to key it, and this "
                "Experiment has none. Fix: build it from a spec (`spec.to_experiment()`, "
                "`%%nk`, `nk run`), or pass `description=` a text that changes "
                "whenever the network does."
            )
        if block_size is None:
            block_size = self.chosen_block_size
        return {
            "format": 1,
            "network": self.description,
            "compute": list(self.compute),
            "data": self.dataset.fingerprint(),
            "n_train": len(self.dataset.x_train),
            "n_test": len(self.dataset.x_test),
            "dtype": self.dtype,
            "block_size": block_size,
            "nkwidgets": __version__,
        }

    def estimate(self, *, time_one_wave: bool = True) -> Any:
        """The plan: blocks, memory per block and peak, and a time estimate.

        Compiles the block function and, with ``time_one_wave``, times one wave
        of real blocks; computes no kernel beyond that. Does not check the budget
        (the plan reports whether it fits).
        """
        import jax

        with jax.enable_x64(self.dtype == "float64"):
            runner = self._runner()
            return runner.plan(time_one_wave=time_one_wave)

    def run(self, context: JobContext) -> ExperimentResult:
        import jax

        with jax.enable_x64(self.dtype == "float64"):
            return self._run(context)

    def _probe_nngp(self, dtype: Any) -> np.ndarray | None:
        """NNGP among the probe test points: the prior of their uncertainty bands."""
        if "nngp" not in self.compute or self.predict is None:
            return None
        x = self.dataset.x_test[probe_indices(self.dataset, self.predict)].astype(dtype)
        return np.asarray(self.network.kernel_fn(x, None, "nngp"))

    def _run(self, context: JobContext) -> ExperimentResult:
        ds = self.dataset
        runner = self._runner()
        runner.check_budget()
        dtype = runner.dtype
        n_train, n_test = len(ds.x_train), len(ds.x_test)
        kernels = {
            name: {
                "train_train": np.full((n_train, n_train), np.nan, dtype),
                "test_train": np.full((n_test, n_train), np.nan, dtype),
            }
            for name in self.compute
        }
        blocks = self.blocks()
        cache = runner.open_cache()
        cached = runner.load_cached(cache, blocks)
        pending = [b for b in blocks if b not in cached]
        context.emit(
            "started",
            total=len(blocks),
            cached=len(cached),
            train_blocks=sum(b.target == "train_train" for b in blocks),
            block_size=runner.block_size,
        )
        t0 = time.monotonic()
        published = 0

        def publish(
            block: Block, values: dict[str, np.ndarray], from_cache: bool
        ) -> None:
            nonlocal published
            published += 1
            context.emit("block_done", block=block, values=values, cached=from_cache)
            context.emit(
                "progress", done=published, total=len(blocks), elapsed=context.elapsed
            )

        stats = {"total": len(blocks), "computed": 0, "reused": len(cached)}
        if runner.processes > 1:
            stats["computed_here"] = 0
        try:
            for block in blocks:
                if block in cached:
                    for name, value in cached[block].items():
                        _fill(kernels[name][block.target], block, value)
                    publish(block, cached[block], True)
            for start in range(0, len(pending), runner.wave_size):
                context.check_cancelled()
                wave = pending[start : start + runner.wave_size]
                computed = runner.compute_wave(wave)
                # Keep the whole wave (arrays, cache) before publishing, so a
                # cancel between its events loses no finished block.
                for block, values in zip(wave, computed, strict=True):
                    _check_block_finite(values, block)
                    if cache is not None:
                        cache.store(block.file_name, values)
                    for name, value in values.items():
                        _fill(kernels[name][block.target], block, value)
                    stats["computed"] += 1
                if "computed_here" in stats:
                    stats["computed_here"] += len(runner.own_slots(len(wave)))
                for i, (block, values) in enumerate(zip(wave, computed, strict=True)):
                    if i:
                        context.check_cancelled()
                    publish(block, values, False)
        except JobCancelled as e:
            seconds = {"kernels": time.monotonic() - t0}
            e.partial = ExperimentResult(kernels, {}, ds, seconds, stats)
            raise
        seconds = {"kernels": time.monotonic() - t0}

        predictions: dict[str, dict[str, np.ndarray]] = {}
        if self.predict is not None:
            context.check_cancelled()
            t1 = time.monotonic()
            predictions = predict_mse(
                kernels, ds, self.predict, self._probe_nngp(runner.dtype)
            )
            seconds["predictions"] = time.monotonic() - t1
            context.emit("prediction", predictions=predictions)
        return ExperimentResult(kernels, predictions, ds, seconds, stats)


def _fill(target: np.ndarray, block: Block, value: np.ndarray) -> None:
    target[
        block.row0 : block.row0 + block.rows, block.col0 : block.col0 + block.cols
    ] = value
    if block.mirrored:
        target[
            block.col0 : block.col0 + block.cols, block.row0 : block.row0 + block.rows
        ] = value.T


def _check_block_finite(values: dict[str, Any], block: Block) -> None:
    for name, value in values.items():
        if not np.all(np.isfinite(value)):
            raise NKError(
                f"The {name} block {block.label} contains NaN or inf: the kernel "
                "overflowed or the inputs hold non-finite values. Fix: lower W_std or the "
                "depth, standardize the inputs, or compute in float64 (dtype = float64)."
            )


def describe_network(net_json: Any) -> str:
    """The cache description of a spec's network JSON (sorted, so stable)."""
    return json.dumps(net_json, sort_keys=True, default=str)
