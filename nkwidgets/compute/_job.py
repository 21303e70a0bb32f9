"""A computation on a background thread that publishes what it does as events.

The notebook cell that starts a Job returns at once, so the kernel stays free:
the next cell runs, and button clicks (Cancel) reach Python while work goes on.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Every event kind a Job publishes, whatever its work function: the Job's own
#: last event, then the kinds each producer in nkwidgets sends through
#: ``JobContext.emit`` (its docstring gives each kind's ``data``). A producer
#: emits only some of them. ``tests/compute/test_job.py`` checks this list
#: against every ``emit(...)``/``Event(...)`` and ``event.kind`` test in the
#: package, so a new kind must be added here.
EVENT_KINDS = (
    # The Job itself: exactly one of these ends every job.
    "done",
    "failed",
    "cancelled",
    # Shared: "started" by all producers but kip, "progress" by all but
    # width_convergence (which counts in "sample").
    "started",
    "progress",
    # Experiment (compute/_experiment.py).
    "block_done",
    "prediction",
    # width_convergence (_convergence/_job.py).
    "width_started",
    "sample",
    "width_done",
    # learning_rate_sweeps (_phase/_run.py).
    "lambda0",
    "run_done",
    "sweep_done",
    # kip (_science/_kip.py).
    "kip_started",
    "kip_step",
    "kip_snapshot",
)


class JobCancelled(Exception):
    """Raised inside a job's work function when ``Job.cancel()`` was called.

    An Experiment attaches ``partial``, an ExperimentResult whose kernels hold
    the finished blocks (NaN elsewhere); with a cache they are on disk too.
    """

    partial: Any = None


@dataclasses.dataclass(frozen=True)
class Event:
    """Something a Job did: ``kind`` is one of :data:`EVENT_KINDS`.

    ``data`` depends on ``kind`` and on the producer. The Job's own:
    ``done``: ``result``. ``failed``: ``error``. ``cancelled``: nothing.
    An :class:`~nkwidgets.compute.Experiment`'s:

    * ``started``: ``total`` blocks, ``cached`` of them read from the cache.
    * ``block_done``: ``block`` (a :class:`Block`), ``values`` {name: array},
      ``cached`` (read back rather than computed).
    * ``progress``: ``done``, ``total``, ``elapsed`` seconds.
    * ``prediction``: ``predictions`` (see ExperimentResult).

    The others are documented where they are emitted:
    ``nkwidgets.convergence.width_convergence``,
    ``nkwidgets.phase.learning_rate_sweeps`` and ``nkwidgets.kip.kip``.
    """

    kind: str
    data: dict[str, Any]


class JobContext:
    """What a job's work function sees: a way to publish events and to notice cancel."""

    def __init__(self, job: Job):
        self._job = job
        self.started_at = time.monotonic()

    def emit(self, kind: str, **data: Any) -> None:
        self._job._publish(Event(kind, data))

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if a cancel was requested; call between blocks."""
        if self._job._cancel_requested.is_set():
            raise JobCancelled

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started_at


class Job:
    """Runs ``work(context)`` on a daemon thread; subscribers get every Event.

    Subscribers run on the job's thread, in order; one that raises is logged and
    does not stop the work (a broken plot must not lose a finished kernel).
    """

    def __init__(self, work: Callable[[JobContext], Any], name: str = "job"):
        self.name = name
        self._work = work
        self._subscribers: list[Callable[[Event], None]] = []
        self._cancel_requested = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self.status = "pending"

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._subscribers.append(callback)

    def start(self) -> Job:
        if self._thread is not None:
            raise RuntimeError(f"Job {self.name!r} was already started.")
        self.status = "running"
        self._thread = threading.Thread(
            target=self._run, name=f"nk-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def run_here(self) -> Any:
        """Run on the calling thread (scripts, the CLI, tests) and return the result."""
        self.status = "running"
        self._run()
        return self.result()

    def cancel(self) -> None:
        """Ask the job to stop; returns at once.

        Work stops at the next ``check_cancelled``: for an Experiment, after the
        wave of blocks (one per device, computed side by side) running now.
        """
        self._cancel_requested.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job and return its result, or raise what stopped it."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"Job {self.name!r} still running after {timeout} s.")
        if self._error is not None:
            raise self._error
        return self._result

    def _run(self) -> None:
        context = JobContext(self)
        try:
            self._result = self._work(context)
            self.status = "done"
            self._publish(Event("done", {"result": self._result}))
        except JobCancelled as e:
            self._error = e
            self.status = "cancelled"
            self._publish(Event("cancelled", {}))
        except BaseException as e:  # noqa: BLE001 - every failure must reach the user
            self._error = e
            self.status = "failed"
            self._publish(Event("failed", {"error": e}))
        finally:
            self._finished.set()

    def _publish(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # noqa: BLE001
                log.exception(
                    "subscriber of job %r failed on %s", self.name, event.kind
                )
