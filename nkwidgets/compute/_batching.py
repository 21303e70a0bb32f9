"""``batch``: a kernel function computed block by block across devices.

Neural Tangents' ``nt.batch`` with its signature and meaning, built on
``jax.sharding`` instead of ``pmap``: the ``(n1, n2)`` kernel is cut into
``batch_size x batch_size`` blocks, and waves of blocks (one per device) run as
one sharded, jitted, vmapped call (see ``_mesh.py``). Unlike NT, sizes need not
be divisible by ``batch_size`` or the device count: edge blocks are padded with
real rows and cropped.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import numpy as np

from ..errors import NKError
from ..kernels._kernel import Kernel
from ._assemble import OutputLayout
from ._block_size import FAST_CPU_BLOCK_BYTES, PROBE_BLOCK, cache_sized_block
from ._blocks import pad_rows
from ._errors import BlockError
from ._host_memory import ResidentGuard, release_host_memory
from ._memory import check_budget, fits, fitting_block_size, resolve_budget
from ._mesh import WaveRunner, blocks_share_host_memory, device_mesh

F = TypeVar("F", bound=Callable[..., Any])


def batch(
    kernel_fn: F,
    batch_size: int | str = 0,
    device_count: int = -1,
    store_on_device: bool = True,
    *,
    memory_budget: int | float | str | None = None,
) -> F:
    """A kernel function that computes ``kernel_fn`` in blocks over all devices.

    Drop-in for ``neural_tangents.batch``. Works for any
    ``kernel_fn(x1, x2=None, *args, **kwargs)`` whose array outputs are indexed
    ``(n1, n2, ...)`` (``cov1``/``mask1`` ``(n1, ...)``, ``cov2``/``mask2``
    ``(n2, ...)``): analytic kernel functions with any ``get``, empirical and
    Monte Carlo kernel functions. Arguments other than ``x1, x2`` are handled
    as in NT: arrays are passed to every block, ``kwargs`` given as a pair
    ``(for_x1, for_x2)`` of arrays with ``n1`` and ``n2`` rows are sliced with
    the blocks, an ``rng`` key is split into one key pair per block, and
    anything else is a static (hashable) setting. Do not ``jax.jit`` the
    result: its purpose is serial execution that bounds memory.

    Args:
      kernel_fn: the function to batch.
      batch_size: rows and columns per block; ``0`` splits only the rows of
        ``x1`` across devices (one block per device); ``"auto"`` picks the
        largest square blocks whose estimated peak fits ``memory_budget``
        (from XLA's memory analysis of the compiled block; a few compiles, no
        block runs), on CPU no larger than a cache-friendly working set
        (``FAST_CPU_BLOCK_BYTES``); the size used is ``fn.block_size``. Need not divide the sizes.
      device_count: devices to use: ``-1`` all local devices (all devices of
        all processes under ``jax.distributed``), ``0`` one device, ``n`` the
        first ``n`` local devices.
      store_on_device: keep the assembled result on the default device
        (``True``) or return host NumPy arrays (``False``, for kernels larger
        than device memory). Blocks are assembled on the host either way.
      memory_budget: refuse, before any block runs, a computation whose
        estimated peak exceeds this: bytes, ``"8GB"``, or a share ``"50%"`` of
        available memory (default 50%).

    Returns:
      A function with ``kernel_fn``'s signature returning the same values.
      A :class:`~nkwidgets.stax.Kernel` given as ``x1`` is passed to
      ``kernel_fn`` unbatched.

    Raises:
      nkwidgets.compute.MemoryBudgetError: the estimate exceeds the budget; names a batch size
        that fits.
      BlockError: ``kernel_fn`` raised; names the block and the original error.

    Examples:
      >>> import numpy as np
      >>> from nkwidgets import stax
      >>> from nkwidgets.batching import batch
      >>> _, _, kernel_fn = stax.serial(stax.Dense(8), stax.Erf(), stax.Dense(1))
      >>> x = np.linspace(-1, 1, 14, dtype=np.float32).reshape(7, 2)
      >>> k = batch(kernel_fn, batch_size=3)(x, None, "nngp")
      >>> bool(np.allclose(k, kernel_fn(x, None, "nngp"), rtol=1e-5))
      True
    """
    if batch_size != "auto" and (
        not isinstance(batch_size, int | np.integer) or batch_size < 0
    ):
        raise NKError(
            f"`batch_size={batch_size!r}` must be a non-negative integer (0: no "
            "serial batching, only device parallelism) or 'auto' (the largest "
            "blocks that fit `memory_budget`)."
        )
    runners: dict[Any, WaveRunner] = {}

    @functools.wraps(kernel_fn)
    def batched(x1_or_kernel: Any, x2: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _holds_kernel(x1_or_kernel):
            return kernel_fn(x1_or_kernel, x2, *args, **kwargs)
        call = _Call(kernel_fn, x1_or_kernel, x2, args, kwargs)
        mesh = device_mesh(device_count)
        try:
            return call.run(mesh, batch_size, runners, store_on_device, memory_budget)
        finally:
            # What the last call ran with, e.g. the size batch_size='auto' chose.
            batched.block_size = getattr(call, "block_size", None)  # type: ignore[attr-defined]
            batched.blocks_run = getattr(call, "blocks_run", None)  # type: ignore[attr-defined]

    return batched  # type: ignore[return-value]


def _holds_kernel(x: Any) -> bool:
    leaves = jax.tree.leaves(x, is_leaf=lambda v: isinstance(v, Kernel))
    return any(isinstance(v, Kernel) for v in leaves)


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray | jax.Array)


def _is_array_tree(x: Any) -> bool:
    leaves = jax.tree.leaves(x)
    return bool(leaves) and all(_is_array(v) for v in leaves)


def _n_rows(x: Any, what: str) -> int:
    sizes = {np.shape(v)[0] for v in jax.tree.leaves(x) if np.ndim(v) > 0}
    if len(sizes) != 1:
        raise NKError(
            f"`{what}` must be an array (or arrays) with one batch size; got sizes {sorted(sizes)}."
        )
    return sizes.pop()


def _is_key(x: Any) -> bool:
    return _is_array(x) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


class _Call:
    """One call of a batched kernel function: its inputs sorted by how they batch."""

    def __init__(
        self, kernel_fn: Callable[..., Any], x1: Any, x2: Any, args: tuple, kwargs: dict
    ):
        self.kernel_fn = kernel_fn
        self.x2_is_none = x2 is None
        self.x1 = jax.tree.map(np.asarray, x1)
        self.x2 = self.x1 if x2 is None else jax.tree.map(np.asarray, x2)
        self.n1 = _n_rows(self.x1, "x1")
        self.n2 = _n_rows(self.x2, "x2")
        self.shared: dict[str, Any] = {}  # arrays every block sees
        self.static: dict[str, Any] = {}  # hashable settings, closed over
        self.paired: dict[str, tuple[Any, Any]] = {}  # sliced with the blocks
        self.rng: Any = None
        self.typed_key_impl: Any = None
        for i, value in enumerate(args):
            self._sort(f"arg{i}", value)
        for name, value in kwargs.items():
            if name == "rng" and _is_array(value):
                self.rng = value
            elif (
                isinstance(value, tuple)
                and len(value) == 2
                and all(_is_array_tree(v) for v in value)
                and _n_rows(value[0], name) == self.n1
                and _n_rows(value[1], name) == self.n2
            ):
                self.paired[name] = (
                    jax.tree.map(np.asarray, value[0]),
                    jax.tree.map(np.asarray, value[1]),
                )
            else:
                self._sort(f"kw:{name}", value)
        self.n_args = len(args)

    def _sort(self, slot: str, value: Any) -> None:
        if _is_array_tree(value):
            self.shared[slot] = value
        else:
            self.static[slot] = value

    def _static_key(self) -> Any:
        try:
            key = tuple(sorted(self.static.items()))
            hash(key)
            return key
        except TypeError:
            return object()  # unhashable settings: compile for this call only

    def block_fn(self) -> Callable[[Any, Any, Any], Any]:
        # Locals only: a cached runner must not keep this call's data alive.
        kernel_fn, static = self.kernel_fn, dict(self.static)
        n_args, impl = self.n_args, self.typed_key_impl

        def call(row_in: Any, col_in: Any, shared: dict[str, Any]) -> Any:
            (x1, kw1, key1), (x2, kw2, key2) = row_in, col_in
            slots = {**static, **shared}
            args = [slots[f"arg{i}"] for i in range(n_args)]
            kwargs = {k[3:]: v for k, v in slots.items() if k.startswith("kw:")}
            kwargs.update({k: (kw1[k], kw2[k]) for k in kw1})
            if key1 is not None:
                if impl is not None:
                    key1, key2 = (
                        jax.random.wrap_key_data(key1, impl=impl),
                        jax.random.wrap_key_data(key2, impl=impl),
                    )
                kwargs["rng"] = (key1, key2)
            return kernel_fn(x1, x2, *args, **kwargs)

        return call

    def _inputs(self, b1: int, b2: int) -> tuple[list[Any], list[Any]]:
        rows1 = range(0, self.n1, b1)
        rows2 = range(0, self.n2, b2)
        keys1 = keys2 = [None] * max(len(rows1), len(rows2))
        if self.rng is not None:
            k1, k2 = jax.random.split(self.rng)
            keys1, keys2 = (
                jax.random.split(k1, len(rows1)),
                jax.random.split(k2, len(rows2)),
            )
            if _is_key(self.rng):
                self.typed_key_impl = jax.random.key_impl(self.rng)
                keys1, keys2 = jax.random.key_data(keys1), jax.random.key_data(keys2)
            keys1, keys2 = np.asarray(keys1), np.asarray(keys2)

        def cut(tree: Any, r: int, size: int) -> Any:
            return jax.tree.map(lambda a: pad_rows(a[r : r + size], size), tree)

        row_in = [
            (
                cut(self.x1, r, b1),
                {k: cut(v[0], r, b1) for k, v in self.paired.items()},
                keys1[i],
            )
            for i, r in enumerate(rows1)
        ]
        col_in = [
            (
                cut(self.x2, c, b2),
                {k: cut(v[1], c, b2) for k, v in self.paired.items()},
                keys2[j],
            )
            for j, c in enumerate(rows2)
        ]
        return row_in, col_in

    def _sizes(self, batch_size: int, wave_size: int) -> tuple[int, int]:
        if batch_size == 0:
            return math.ceil(self.n1 / wave_size), self.n2
        return min(batch_size, self.n1), min(batch_size, self.n2)

    def _runner(
        self, mesh: Any, b1: int, b2: int, runners: dict
    ) -> tuple[WaveRunner, list, list]:
        row_in, col_in = self._inputs(b1, b2)
        shapes = jax.tree.map(
            lambda a: (np.shape(a), np.asarray(a).dtype.str),
            (row_in[0], col_in[0], self.shared),
        )
        key = (
            self._static_key(),
            b1,
            b2,
            str(shapes),
            str(self.typed_key_impl),
            tuple(d.id for d in mesh.devices.flat),
        )
        runner = runners.get(key)
        if runner is None:
            runner = WaveRunner(self.block_fn(), mesh)
            try:
                runner.compile(row_in[0], col_in[0], self.shared)
            except Exception as e:
                where = f"kernel_fn on block x1[0:{b1}] x x2[0:{b2}] (while tracing)"
                raise BlockError(where, e) from e
            runners[key] = runner
        # Compiled once per shape, but this call's arrays (parameters) are its own.
        runner.share(self.shared)
        return runner, row_in, col_in

    def run(
        self,
        mesh: Any,
        batch_size: int,
        runners: dict,
        store_on_device: bool,
        budget: Any,
    ) -> Any:
        auto = batch_size == "auto"
        # The sizes 'auto' chose for this signature last time: a repeat call
        # skips the probe compile and the search (about a second on CPU).
        choice_key = (
            "auto-choice",
            self._signature(mesh),
            str(budget),
            store_on_device,
        )
        if auto and choice_key in runners:
            b1, b2 = runners[choice_key]
            runner, row_in, col_in = self._runner(mesh, b1, b2, runners)
            return self._run_blocks(runner, row_in, col_in, b1, b2, store_on_device)
        if auto:
            # At most one block per device along the longer side. On CPU, a
            # small probe block prices a pair first, so the search never
            # compiles a block far over the cache-friendly size (compiling
            # itself costs memory).
            b = math.ceil(max(self.n1, self.n2) / mesh.size)
            probe = min(PROBE_BLOCK, b)
            p_runner, _, _ = self._runner(
                mesh, min(probe, self.n1), min(probe, self.n2), runners
            )
            p_est = p_runner.memory(0)
            if p_est.pool == "host" and p_est.block_bytes > 0:
                per_pair = p_est.block_bytes / probe**2
                b = min(b, max(probe, int(math.sqrt(FAST_CPU_BLOCK_BYTES / per_pair))))
            b1, b2 = min(b, self.n1), min(b, self.n2)
            if (b1, b2) != (min(probe, self.n1), min(probe, self.n2)):
                # The probe only priced a pair: free its executable (and the
                # compiler's leftovers) before the real block is compiled, so
                # the two do not add up in the process's peak memory.
                for key in [k for k, r in runners.items() if r is p_runner]:
                    del runners[key]
                del p_runner
                release_host_memory()
        else:
            b1, b2 = self._sizes(batch_size, mesh.size)
        runner, row_in, col_in = self._runner(mesh, b1, b2, runners)
        out_info = runner.out_info
        layout = OutputLayout(out_info, self.n1, self.n2, b1, b2)

        # A result kept on the device is a second copy of the host assembly.
        result_bytes = layout.result_bytes * (2 if store_on_device else 1)

        def estimate_for(b: int) -> Any:
            other, _, _ = self._runner(mesh, min(b, self.n1), min(b, self.n2), runners)
            return other.memory(result_bytes)

        resolved = resolve_budget(budget, mesh.devices.flat[0])
        estimate = runner.memory(result_bytes)
        if auto and not fits(estimate, resolved):
            # The largest block that fits; if none does, check_budget says why.
            b = fitting_block_size(estimate, resolved, max(b1, b2), estimate_for)
            if b is not None:
                b1, b2 = min(b, self.n1), min(b, self.n2)
                runner, row_in, col_in = self._runner(mesh, b1, b2, runners)
                estimate = runner.memory(result_bytes)
        check_budget(
            estimate,
            resolved,
            block_size=max(b1, b2),
            estimate_for=estimate_for,
            setting="batch_size",
        )
        if (
            auto
            and estimate.pool == "host"
            and estimate.block_bytes > FAST_CPU_BLOCK_BYTES
        ):
            b = cache_sized_block(max(b1, b2), estimate.block_bytes, estimate_for)
            b1, b2 = min(b, self.n1), min(b, self.n2)
            runner, row_in, col_in = self._runner(mesh, b1, b2, runners)
        if auto:
            runners[choice_key] = (b1, b2)
        return self._run_blocks(runner, row_in, col_in, b1, b2, store_on_device)

    def _signature(self, mesh: Any) -> tuple:
        """What decides the block sizes: sizes, per-row shapes, settings, devices."""

        def row_shapes(tree: Any) -> str:
            return str(
                jax.tree.map(lambda a: (np.shape(a)[1:], np.asarray(a).dtype.str), tree)
            )

        shared = jax.tree.map(
            lambda a: (np.shape(a), np.asarray(a).dtype.str), self.shared
        )
        return (
            self._static_key(),
            self.n1,
            self.n2,
            self.x2_is_none,
            row_shapes(self.x1),
            row_shapes(self.x2),
            row_shapes({k: v[0] for k, v in self.paired.items()}),
            str(shared),
            self.rng is not None,
            tuple(d.id for d in mesh.devices.flat),
        )

    def _run_blocks(
        self,
        runner: WaveRunner,
        row_in: list,
        col_in: list,
        b1: int,
        b2: int,
        store_on_device: bool,
    ) -> Any:
        layout = OutputLayout(runner.out_info, self.n1, self.n2, b1, b2)
        self.block_size = (b1, b2)
        result = layout.empty()
        # A symmetric kernel (an analytic kernel_fn of x1 with itself) needs
        # only the blocks on and above the diagonal: nearly half the work.
        mirror = (
            self.x2_is_none
            and b1 == b2
            and self.rng is None
            and hasattr(self.kernel_fn, "requirements")
            and layout.transposable
        )
        pairs = [
            (i, j)
            for i in range(len(row_in))
            for j in range(len(col_in))
            if not mirror or j >= i
        ]
        self.blocks_run = len(pairs)
        on_host = blocks_share_host_memory(runner.mesh)
        guard = ResidentGuard(FAST_CPU_BLOCK_BYTES) if on_host else None
        for start in range(0, len(pairs), runner.wave_size):
            wave = pairs[start : start + runner.wave_size]
            try:
                outs = runner.run_wave([(row_in[i], col_in[j]) for i, j in wave])
            except Exception as e:
                i, j = wave[0]
                where = f"kernel_fn on blocks from x1[{i * b1}:] x x2[{j * b2}:]"
                raise BlockError(where, e) from e
            for (i, j), out in zip(wave, outs, strict=True):
                layout.place(result, out, i * b1, j * b2, mirror)
            if guard is not None:
                guard.after_block()
        tree = layout.finish(result, self.x2_is_none)
        if store_on_device:
            tree = jax.device_put(tree, jax.local_devices()[0])
        return tree
