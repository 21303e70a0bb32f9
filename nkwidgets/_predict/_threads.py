"""BLAS threads for dense factorisations: no more than the cores free right now.

On CPU, jaxlib runs ``eigh`` (``?syevd``), Cholesky (``?potrf``) and triangular
solves (``?trsm``) through SciPy's LAPACK/BLAS (``scipy.linalg.cython_lapack``),
i.e. SciPy's bundled OpenBLAS and its own thread pool, one thread per core by
default (XLA's intra-op pool plays no part). OpenBLAS's threads spin-wait for
one another after each parallel step of the tridiagonal reduction and of the
blocked factorisations, and there are many small steps. When
another process holds a core, one of those threads is descheduled and the
others spin until it gets a time slice back, at every barrier: measured on a
shared 2-core machine with two other busy processes, ``eigh`` of a 1000 x 1000
float32 kernel took 0.15 s on one thread and 0.2-0.33 s (median; up to 0.6 s) on
two, of a 256 x 256 one 0.013 s on one thread and 0.07-0.56 s on two, and the
1000-example predictor benchmark ran 1.5-6.6x Neural Tangents' time at load
2-7 instead of 0.6-0.9x (``bench/RESULTS.md``). The loss is not graceful, so the thread count
has to follow the load.

`blas_threads_for` therefore lowers the BLAS pools, for the duration of one
factorisation, to the cores nobody else is running on, and never raises them:
on an idle machine (any number of cores) nothing changes and a multi-threaded
factorisation keeps its speed-up (on 2 idle cores, 1000 x 1000 ``eigh`` takes
0.09 s on two threads vs 0.11 s on one, so hard-coding one thread would cost
idle users).

Limits: OpenBLAS's pthreads pool is process-wide, so the limit holds for the
whole process while it lasts, and factorisations from several Python threads
take turns (threadpoolctl lets one thread at a time change the pool); an
OpenMP-layered OpenBLAS applies limits per calling thread, which is not the
thread XLA runs the factorisation on; and inside a user's ``jit`` nothing can be
done, since the factorisation runs after we return.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Final

# Where the stall starts: with two busy processes on 2 cores, eigh of order 48
# ran as fast on two threads as on one, of order 64 2x slower, of 80-128 20-90x
# slower. Below it the probe (~25 us on an idle machine, ~0.4 ms on a busy one,
# where it reads our threads' states) would only add to a sub-millisecond
# factorisation.
MIN_ORDER: Final = 64

# Held while a lowered limit is in force. threadpoolctl lets one thread at a
# time change OpenBLAS's process-wide pool (others are silently ignored), so the
# thread that lowers it must be the one that restores it: a second
# factorisation waits for the first rather than interleave limits. Only busy
# machines take it for long; re-entrant for nested factorisations.
_lock = threading.RLock()
_controller = None


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, found once."""
    global _controller
    if _controller is None:
        # jaxlib reaches LAPACK through SciPy: load it before looking, or the
        # library the factorisations use would be missed.
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController

        # Discovery walks every loaded shared library (~25 ms): do it once.
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def _procs_running() -> int | None:
    """Runnable tasks on the whole machine right now (``/proc/stat``), or None."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _own_running_threads() -> int:
    """This process's runnable threads (the caller included)."""
    running = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread exited meanwhile
            continue
        # The state follows the parenthesised command name, which may hold spaces.
        if stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"R":
            running += 1
    return max(running, 1)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_cores() -> int:
    """Cores this process can use without displacing another runnable task.

    Why the instantaneous run queue and not the load average: the 1-minute load
    average trails a burst of load by tens of seconds, and it counts our own
    threads, so a loop of our own factorisations would throttle itself on an
    idle machine. ``procs_running`` counts runnable tasks now; our own running
    threads (the caller, OpenBLAS or XLA workers still spinning after the last
    call) are subtracted, leaving the other processes that a BLAS thread would
    have to share a core with.

    Other tasks are charged against all the machine's cores, not only those in
    our affinity mask: ``/proc/stat`` does not say where they run, and in a
    container the count is the host's, so charging them all to our few cores
    would pin a container on a busy large host to one thread for nothing.
    """
    cores = _usable_cores()
    machine = max(os.cpu_count() or cores, cores)
    running = _procs_running()
    if running is None:
        # No /proc (macOS): the load average, less the caller, is all there is.
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return cores
        others = max(0, round(load) - 1)
    else:
        # Only the caller is surely ours; when even counting every other
        # runnable task as foreign leaves all our cores free (the idle case),
        # skip reading our threads' states (~10 us per thread).
        others = running - 1
        if machine - others < cores:
            others = max(0, running - _own_running_threads())
    return max(1, min(cores, machine - others))


def _libraries_to_lower(controller) -> tuple[list, int]:
    """The BLAS libraries running more threads than there are free cores."""
    free = free_cores()
    # Only lower: a limit the user set (or a single-threaded build) stays.
    return [
        controller.select(filepath=lib.filepath)
        for lib in controller.lib_controllers
        if (lib.num_threads or 0) > free
    ], free


@contextlib.contextmanager
def blas_threads_for(n: int) -> Iterator[None]:
    """Run the block with BLAS threads limited to the currently free cores.

    `n` is the order of the matrix being factorised; small ones are left alone.
    The block must wait for the factorisation's result (JAX dispatches
    asynchronously: a computation still running after the block has left it
    runs with the restored, unlimited pool). The original thread counts come
    back on exit, exception or not.
    """
    if n < MIN_ORDER:
        yield
        return
    try:
        controller = _blas_controller()
    except ImportError:  # threadpoolctl missing: run with the defaults
        yield
        return
    with _lock:
        libraries, free = _libraries_to_lower(controller)
        if libraries:
            with contextlib.ExitStack() as limits:
                for library in libraries:
                    limits.enter_context(library.limit(limits=free))
                yield
            return
    yield
