"""Several processes (hosts) running one job under ``jax.distributed``.

JAX's own runtime does the work: ``jax.distributed.initialize`` joins the
processes, the device mesh spans all of them, and
``multihost_utils.process_allgather`` shares results. This module only starts
it from flags or environment variables and agrees on facts across processes.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ..errors import NKError

#: Environment variables read when the flags are not given (``nk run`` on a
#: cluster where a launcher sets them per process).
ENV_COORDINATOR = "NK_COORDINATOR"
ENV_NUM_PROCESSES = "NK_NUM_PROCESSES"
ENV_PROCESS_ID = "NK_PROCESS_ID"


class DistributedError(NKError, ValueError):
    """Multi-process settings that cannot start or that disagree across processes."""


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Join a multi-process job; return whether one was joined.

    Arguments left ``None`` are read from ``NK_COORDINATOR``,
    ``NK_NUM_PROCESSES`` and ``NK_PROCESS_ID``. Must run before anything else
    uses JAX in this process.
    """
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR)
    num_processes = (
        num_processes if num_processes is not None else _env_int(ENV_NUM_PROCESSES)
    )
    process_id = process_id if process_id is not None else _env_int(ENV_PROCESS_ID)
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if not any(given):
        return False
    if not all(given):
        raise DistributedError(
            "a multi-process run needs all of --coordinator HOST:PORT, --num-processes N "
            f"and --process-id I (or {ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, "
            f"{ENV_PROCESS_ID}); got coordinator={coordinator!r}, "
            f"num_processes={num_processes!r}, process_id={process_id!r}."
        )
    assert num_processes is not None and process_id is not None
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise DistributedError(
            f"--process-id {process_id} must be in 0..{num_processes - 1} for "
            f"--num-processes {num_processes}."
        )
    import jax

    # CPU devices need a collectives backend to all-gather across processes;
    # gloo ships with jaxlib. Accelerators use their own and ignore this.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
    )
    return True


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"{name}={value!r} must be an integer.") from None


def process_count() -> int:
    import jax

    return jax.process_count()


def all_processes_have(mask: np.ndarray) -> np.ndarray:
    """Elementwise AND of a boolean mask over processes (one all-gather).

    Used for cached blocks: a block is reused only if every process has it, so
    all processes agree on which blocks to compute even with per-host caches.
    """
    if process_count() == 1:
        return mask
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(mask.astype(np.int32))
    return np.asarray(gathered).reshape(process_count(), -1).min(axis=0).astype(bool)


def smallest_over_processes(value: int) -> int:
    """The smallest of every process's ``value`` (one all-gather).

    Used for an automatic block size: each process prices blocks against its
    own memory, and the smallest choice fits them all.
    """
    if process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(np.array([value], np.int64))
    return int(np.min(gathered))


def check_same_job(key: str) -> None:
    """Raise if the processes were given different experiments (data, spec, dtype)."""
    if process_count() == 1:
        return
    from jax.experimental import multihost_utils

    digest = np.frombuffer(hashlib.sha256(key.encode()).digest()[:8], np.int32)
    gathered = np.asarray(multihost_utils.process_allgather(digest)).reshape(
        process_count(), -1
    )
    if not np.all(gathered == gathered[0]):
        raise DistributedError(
            "the processes of this job were given different experiments (spec, data, "
            "dtype or block size differ). Fix: start every process with the same "
            ".nk file and settings."
        )
