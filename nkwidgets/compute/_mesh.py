"""Blocks computed in waves across a device mesh, one block per device per wave.

The block function is ``jax.vmap``-ped over a leading axis of stacked blocks and
``jax.jit``-ted once with that axis sharded over a ``Mesh`` (``P('devices')``):
XLA partitions it so each device computes its own block, with no
communication. Every block has the same padded shape, so there is one
compilation, and a block's bits do not depend on which device or wave
computed it — which is what makes a resumed run bit-identical to a clean one.

Under ``jax.distributed`` the mesh spans every process's devices; each process
feeds the blocks of its own devices (a fixed slot per device, so the
assignment is deterministic) and the wave's outputs are all-gathered so every
process holds the whole result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._errors import DeviceCountError
from ._memory import MemoryEstimate, compiled_block_bytes

AXIS = "devices"


def device_mesh(device_count: int | None = -1) -> Mesh:
    """A 1-D mesh over ``device_count`` devices of each process.

    Args:
      device_count: ``-1`` or ``None``: all local devices; ``0``: one device
        (no parallelism, as in Neural Tangents); ``n``: the first ``n`` local
        devices of each process.
    """
    local = sorted(jax.local_devices(), key=lambda d: d.id)
    if device_count is None or device_count == -1:
        n = len(local)
    elif device_count == 0:
        n = 1
    elif device_count < -1:
        raise DeviceCountError(
            f"`device_count={device_count}` is not a device count. Fix: use -1 (all "
            "local devices), 0 (one device) or a positive number."
        )
    else:
        n = device_count
    if n > len(local):
        raise DeviceCountError(
            f"{n} devices were asked for but this process has {len(local)} "
            f"({local[0].platform}). Fix: ask for at most {len(local)}; on CPU, start "
            f"Python with XLA_FLAGS=--xla_force_host_platform_device_count={n} "
            f"(`nk run --devices {n}` does this for you)."
        )
    if jax.process_count() == 1:
        devices = local[:n]
    else:
        # Process-major order: process p owns the mesh slots p*n .. p*n+n-1,
        # which is what make_array_from_process_local_data expects.
        devices = []
        for p in range(jax.process_count()):
            own = sorted(
                (d for d in jax.devices() if d.process_index == p), key=lambda d: d.id
            )
            devices += own[:n]
    return Mesh(np.array(devices), (AXIS,))


def local_slots(mesh: Mesh) -> range:
    """The positions in a wave that this process computes."""
    per_process = mesh.size // jax.process_count()
    first = jax.process_index() * per_process
    return range(first, first + per_process)


def blocks_share_host_memory(mesh: Mesh) -> bool:
    return mesh.devices.flat[0].platform == "cpu"


class WaveRunner:
    """Computes ``block_fn(row_input, col_input, shared)`` for many blocks.

    ``row_input`` and ``col_input`` are pytrees of arrays that differ per block
    (the padded rows of x1 and x2, per-block keys); ``shared`` is one pytree of
    arrays every block sees (parameters). Wave outputs come back to the host as
    NumPy, split per block.
    """

    def __init__(self, block_fn: Callable[[Any, Any, Any], Any], mesh: Mesh):
        self.mesh = mesh
        self.wave_size = mesh.size
        self.slots = local_slots(mesh)
        self._stacked = NamedSharding(mesh, P(AXIS))
        self._replicated = NamedSharding(mesh, P())
        self._jitted = jax.jit(
            jax.vmap(block_fn, in_axes=(0, 0, None)),
            in_shardings=(self._stacked, self._stacked, self._replicated),
            out_shardings=self._stacked,
        )
        self._compiled: Any = None
        self._shared: Any = None

    def compile(self, row_example: Any, col_example: Any, shared: Any) -> Any:
        """Trace and compile for blocks shaped like the examples; runs nothing.

        Tracing calls ``block_fn`` in Python, so errors it raises surface here.
        """

        def stacked(x: Any) -> jax.ShapeDtypeStruct:
            x = np.asarray(x) if not isinstance(x, jax.Array) else x
            return jax.ShapeDtypeStruct(
                (self.wave_size, *x.shape), x.dtype, sharding=self._stacked
            )

        def replicated(x: Any) -> jax.ShapeDtypeStruct:
            x = x if hasattr(x, "dtype") else np.asarray(x)
            return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=self._replicated)

        self._compiled = self._jitted.lower(
            jax.tree.map(stacked, row_example),
            jax.tree.map(stacked, col_example),
            jax.tree.map(replicated, shared),
        ).compile()
        return self._compiled

    def share(self, shared: Any) -> None:
        """Place the arrays every block of the next waves sees (e.g. parameters)."""
        self._shared = jax.tree.map(self._put_replicated, shared)

    @property
    def out_info(self) -> Any:
        """Shapes and dtypes of a wave's outputs (leading axis: the wave)."""
        return self._compiled.out_info

    def memory(self, result_bytes: int) -> MemoryEstimate:
        """Estimate from the compiled function; call after :meth:`compile`."""
        block_bytes, analysed = compiled_block_bytes(self._compiled)
        out_per_block = sum(
            int(np.prod(s.shape[1:])) * s.dtype.itemsize
            for s in jax.tree.leaves(self._compiled.out_info)
        )
        if not analysed:
            in_per_block = sum(
                int(np.prod(s.shape[1:])) * s.dtype.itemsize
                for s in jax.tree.leaves(self._compiled.in_avals[0][:2])
            )
            block_bytes = in_per_block + out_per_block
        on_host = blocks_share_host_memory(self.mesh)
        return MemoryEstimate(
            block_bytes=block_bytes,
            blocks_in_flight=len(self.slots) if on_host else 1,
            result_bytes=result_bytes,
            staging_bytes=out_per_block * self.wave_size,
            pool="host" if on_host else "device",
            analysed=analysed,
        )

    def run_wave(self, items: Sequence[tuple[Any, Any]]) -> list[Any]:
        """Compute up to ``wave_size`` blocks given as ``(row_input, col_input)``.

        Every process must call this with the same ``items`` (it is one SPMD
        program across processes); each feeds only its own slots.
        """
        if not 0 < len(items) <= self.wave_size:
            raise ValueError(
                f"a wave holds 1..{self.wave_size} blocks, got {len(items)}."
            )
        # Idle devices repeat the last block: one compiled shape serves every
        # wave, and the duplicate is simply dropped.
        padded = list(items) + [items[-1]] * (self.wave_size - len(items))
        mine = [padded[i] for i in self.slots]
        rows = self._put_stacked([r for r, _ in mine])
        cols = self._put_stacked([c for _, c in mine])
        out = self._compiled(rows, cols, self._shared)
        if jax.process_count() > 1:
            host = multihost_utils.process_allgather(out, tiled=True)
        else:
            host = jax.device_get(out)
        return [jax.tree.map(lambda a, k=k: a[k], host) for k in range(len(items))]

    def _put_stacked(self, trees: list[Any]) -> Any:
        local = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)
        if jax.process_count() == 1:
            return jax.device_put(local, self._stacked)
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(self._stacked, x), local
        )

    def _put_replicated(self, x: Any) -> Any:
        if jax.process_count() == 1:
            return jax.device_put(x, self._replicated)
        return jax.make_array_from_process_local_data(self._replicated, np.asarray(x))
