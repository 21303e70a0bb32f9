"""How an Experiment's blocks meet the mesh, the budget and the cache.

Construction compiles the block function (so tracing errors and the memory
estimate come before any work); the Experiment then asks for the budget check,
the cached blocks, and waves of missing blocks.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._block_size import AUTO, auto_block_size
from ._blocks import Block, pad_rows, plan_blocks
from ._cache import BlockCache, cache_key, earlier_block_sizes
from ._distributed import (
    all_processes_have,
    check_same_job,
    smallest_over_processes,
)
from ._errors import BlockError
from ._memory import Budget, MemoryEstimate, check_budget, format_bytes, resolve_budget
from ._mesh import WaveRunner, device_mesh

if TYPE_CHECKING:
    from ._experiment import Experiment


def _block_fn(kernel_fn: Any, compute: tuple[str, ...]) -> Any:
    def block(x1: Any, x2: Any, shared: Any) -> dict[str, Any]:
        del shared  # analytic kernels need no parameters
        out = kernel_fn(x1, x2, compute)
        return {name: getattr(out, name) for name in compute}

    return block


#: ``block_size="auto"`` keeps at least this many blocks along the longer side
#: of the data, so the kernel heatmap fills in by parts rather than at once.
MIN_BLOCKS_PER_SIDE = 4


def choose_block_size(experiment: Experiment) -> tuple[int, ExperimentRunner | None]:
    """What ``block_size="auto"`` means for ``experiment``, and its compiled runner.

    The size of this computation's finished blocks in the cache if there are
    any (the most blocks wins), so a resumed run loses no work; otherwise
    :func:`~nkwidgets.compute._block_size.auto_block_size` on the compiled
    block function. Processes of one job take the smallest of their choices.
    The runner compiled at the chosen size while choosing is returned for the
    run to use (None if none was), saving one compile.
    """
    e = experiment
    cached = _size_in_cache(e)
    if cached is not None:
        return smallest_over_processes(cached), None
    largest = max(len(e.dataset.x_train), len(e.dataset.x_test))
    mesh = device_mesh(-1 if e.devices is None else e.devices)
    runners: dict[int, ExperimentRunner] = {}

    def estimate_for(block_size: int) -> MemoryEstimate:
        runners[block_size] = ExperimentRunner(e, block_size)
        return runners[block_size].memory()

    chosen = auto_block_size(
        largest,
        estimate_for,
        resolve_budget(e.budget, mesh.devices.flat[0]),
        at_most=-(-largest // MIN_BLOCKS_PER_SIDE),
    )
    chosen = smallest_over_processes(chosen)
    return chosen, runners.get(chosen)


def _size_in_cache(e: Experiment) -> int | None:
    """The block size of most of this computation's finished blocks, if any."""
    if e.cache_dir is None or e.description is None:
        return None
    earlier = {
        size: count
        for size, count in earlier_block_sizes(
            e.cache_dir, e.cache_facts(block_size=0)
        ).items()
        if count > 0
    }
    if not earlier:
        return None
    most = max(earlier.values())
    return min(size for size, count in earlier.items() if count == most)


class ExperimentRunner:
    """An Experiment's compiled block function on its mesh."""

    def __init__(self, experiment: Experiment, block_size: int | None = None):
        import jax

        self.experiment = e = experiment
        self.block_size = block_size or e.chosen_block_size
        self.dtype = np.float64 if e.dtype == "float64" else np.float32
        self.x_train = e.dataset.x_train.astype(self.dtype)
        self.x_test = e.dataset.x_test.astype(self.dtype)
        # Blocks never need to be larger than the data they cover.
        self.padded = min(self.block_size, max(len(self.x_train), len(self.x_test)))
        self.mesh = device_mesh(-1 if e.devices is None else e.devices)
        self.wave_size = self.mesh.size
        self.runner = WaveRunner(
            _block_fn(e.network.kernel_fn, e.compute), mesh=self.mesh
        )
        example = self.x_train[: self.padded]
        example = pad_rows(example, self.padded)
        first = plan_blocks(len(self.x_train), len(self.x_test), self.block_size)[0]
        try:
            self.runner.compile(example, example, {})
            self.runner.share({})
        except Exception as error:
            raise BlockError(
                f"the kernel function failed on block {first.label}", error
            ) from error
        self.jax = jax

    @property
    def processes(self) -> int:
        return self.jax.process_count()

    def own_slots(self, wave_length: int) -> list[int]:
        """Positions of a wave of ``wave_length`` blocks that this process computes."""
        return [i for i in self.runner.slots if i < wave_length]

    @property
    def result_bytes(self) -> int:
        n_train, n_test = len(self.x_train), len(self.x_test)
        per_kernel = (n_train * n_train + n_test * n_train) * np.dtype(
            self.dtype
        ).itemsize
        return per_kernel * len(self.experiment.compute)

    def memory(self) -> MemoryEstimate:
        return self.runner.memory(self.result_bytes)

    def budget(self) -> Budget:
        return resolve_budget(self.experiment.budget, self.mesh.devices.flat[0])

    def check_budget(self) -> None:
        """Raise MemoryBudgetError, naming a block size that fits, if over budget."""

        def estimate_for(block_size: int) -> MemoryEstimate:
            return ExperimentRunner(self.experiment, block_size).memory()

        check_budget(
            self.memory(),
            self.budget(),
            block_size=self.block_size,
            estimate_for=estimate_for,
            setting="block_size",
        )

    def open_cache(self) -> BlockCache | None:
        e = self.experiment
        if e.cache_dir is None:
            check_same_job(
                repr((e.dataset.fingerprint(), e.compute, e.dtype, self.block_size))
            )
            return None
        cache = BlockCache(e.cache_dir, e.cache_facts())
        check_same_job(cache.key)
        return cache

    def load_cached(
        self, cache: BlockCache | None, blocks: list[Block]
    ) -> dict[Block, dict[str, np.ndarray]]:
        """Blocks every process can read back intact from the cache."""
        if cache is None:
            return {}
        found = {}
        for block in blocks:
            values = cache.load(block.file_name)
            if values is not None and self._matches(values, block):
                found[block] = values
        have = np.array([b in found for b in blocks], bool)
        agreed = all_processes_have(have)
        return {b: found[b] for b, ok in zip(blocks, agreed, strict=True) if ok}

    def _matches(self, values: dict[str, np.ndarray], block: Block) -> bool:
        expected = set(self.experiment.compute)
        return set(values) == expected and all(
            v.shape == (block.rows, block.cols) and v.dtype == self.dtype
            for v in values.values()
        )

    def _inputs(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        rows = self.x_train if block.target == "train_train" else self.x_test
        r = pad_rows(rows[block.row0 : block.row0 + block.rows], self.padded)
        c = pad_rows(self.x_train[block.col0 : block.col0 + block.cols], self.padded)
        return r, c

    def compute_wave(self, wave: list[Block]) -> list[dict[str, np.ndarray]]:
        """Values of each block of ``wave`` (at most ``wave_size``), cropped."""
        try:
            outs = self.runner.run_wave([self._inputs(b) for b in wave])
        except Exception as error:
            names = ", ".join(b.label for b in wave)
            raise BlockError(
                f"the kernel function failed on block(s) {names}", error
            ) from error
        return [
            {name: np.asarray(v[: b.rows, : b.cols]) for name, v in out.items()}
            for b, out in zip(wave, outs, strict=True)
        ]

    def plan(self, *, time_one_wave: bool) -> ExperimentPlan:
        e = self.experiment
        blocks = plan_blocks(len(self.x_train), len(self.x_test), self.block_size)
        cached = 0
        # Only look: estimating must not create a cache directory.
        if (
            e.cache_dir is not None
            and (Path(e.cache_dir).expanduser() / cache_key(e.cache_facts())).is_dir()
        ):
            cached = len(self.load_cached(self.open_cache(), blocks))
        memory = self.memory()
        budget = self.budget()
        seconds = None
        if time_one_wave:
            wave = blocks[: self.wave_size]
            self.compute_wave(wave)  # first call also allocates; not timed
            t0 = time.perf_counter()
            self.compute_wave(wave)
            seconds = time.perf_counter() - t0
        return ExperimentPlan(
            blocks=len(blocks),
            train_blocks=sum(b.target == "train_train" for b in blocks),
            block_size=self.block_size,
            automatic=e.block_size == AUTO,
            devices=self.wave_size,
            processes=self.jax.process_count(),
            platform=self.mesh.devices.flat[0].platform,
            cached=cached,
            memory=memory,
            budget=budget,
            seconds_per_wave=seconds,
        )


@dataclasses.dataclass(frozen=True)
class ExperimentPlan:
    """What ``nk estimate`` reports: the work, its memory, and its time."""

    blocks: int
    train_blocks: int
    block_size: int
    automatic: bool
    devices: int
    processes: int
    platform: str
    cached: int
    memory: MemoryEstimate
    budget: Budget
    seconds_per_wave: float | None

    @property
    def waves(self) -> int:
        return -(-(self.blocks - self.cached) // self.devices)

    @property
    def fits(self) -> bool:
        m, b = self.memory, self.budget
        return m.peak_bytes <= b.for_pool(m.pool) and m.host_bytes <= b.host

    @property
    def seconds_total(self) -> float | None:
        if self.seconds_per_wave is None:
            return None
        return self.seconds_per_wave * self.waves

    def to_json(self) -> dict[str, Any]:
        m = self.memory
        return {
            "blocks": self.blocks,
            "cached": self.cached,
            "block_size": self.block_size,
            "block_size_auto": self.automatic,
            "devices": self.devices,
            "processes": self.processes,
            "waves": self.waves,
            "bytes_per_block": m.block_bytes,
            "peak_bytes": m.peak_bytes,
            "result_bytes": m.result_bytes,
            "budget_bytes": self.budget.for_pool(m.pool),
            "fits": self.fits,
            "seconds_per_wave": self.seconds_per_wave,
            "seconds_total": self.seconds_total,
        }

    def format(self) -> str:
        m = self.memory
        cached = f", {self.cached} already cached" if self.cached else ""
        auto = ", size chosen by block_size = auto" if self.automatic else ""
        rows = [
            (
                "blocks",
                f"{self.blocks} of {self.block_size}x{self.block_size} "
                f"({self.train_blocks} train x train, "
                f"{self.blocks - self.train_blocks} test x train){auto}{cached}",
            ),
            (
                "devices",
                f"{self.devices} {self.platform} device(s) in {self.processes} "
                f"process(es): {self.waves} wave(s) of up to {self.devices} blocks",
            ),
            (
                "per block",
                format_bytes(m.block_bytes)
                + ("" if m.analysed else " (lower bound: XLA gave no analysis)"),
            ),
            ("result arrays", f"{format_bytes(m.result_bytes)} on the host"),
            (
                f"peak ({m.pool})",
                f"{format_bytes(m.peak_bytes)} ({m.blocks_in_flight} block(s) in flight)",
            ),
            (
                "budget",
                f"{format_bytes(self.budget.for_pool(m.pool))} ({self.budget.source}): "
                + ("fits" if self.fits else "OVER BUDGET"),
            ),
        ]
        if self.seconds_per_wave is not None:
            rows.append(
                (
                    "time",
                    f"{self.seconds_per_wave:.3g} s per wave (timed) -> about "
                    f"{format_duration(self.seconds_total or 0.0)} for the kernels",
                )
            )
        return "\n".join(f"{label + ':':<16} {text}" for label, text in rows)


def format_duration(s: float) -> str:
    """An estimate's length: seconds, minutes or hours, one decimal."""
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
