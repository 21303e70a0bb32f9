"""At most a fixed number of front-end redraws a second, the last one never lost.

Job events can arrive thousands of times a second (small networks) or seconds
apart (large ones). A view marks itself stale on every event; the throttle runs
its redraw at once if the last one is old enough, and otherwise schedules one
trailing redraw, so the front end always ends up showing the newest state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class _Timer(Protocol):
    def start(self) -> None: ...
    def cancel(self) -> None: ...


def _daemon_timer(delay: float, fn: Callable[[], None]) -> _Timer:
    timer = threading.Timer(delay, fn)
    # A pending redraw must not keep the kernel process alive at shutdown.
    timer.daemon = True
    return timer


class Throttle:
    """Call ``action`` at most ``max_per_s`` times a second, trailing edge included.

    Thread safe: :meth:`request` may come from a Job's thread, the timer's
    thread or the notebook's; ``action`` runs under one lock, never twice at a
    time.

    Args:
        action: the redraw; reads the latest state itself.
        max_per_s: the most calls a second.
        clock: seconds, monotonic (settable for tests).
        timer: ``timer(delay_s, fn)`` returning an unstarted timer (settable
            for tests).
    """

    def __init__(
        self,
        action: Callable[[], None],
        max_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[[float, Callable[[], None]], Any] = _daemon_timer,
    ) -> None:
        if not max_per_s > 0:
            raise ValueError(f"`max_per_s={max_per_s!r}` must be > 0.")
        self._action = action
        self.interval = 1.0 / max_per_s
        self._clock = clock
        self._timer_factory = timer
        self._lock = threading.RLock()
        self._last = -float("inf")
        self._timer: _Timer | None = None
        self._generation = 0  # which scheduled redraw is the live one

    def request(self) -> None:
        """Redraw now if allowed, else make sure one redraw follows soon."""
        with self._lock:
            if self._timer is not None:
                return  # the scheduled redraw will read this state too
            wait = self._last + self.interval - self._clock()
            if wait <= 0:
                self._run()
            else:
                self._generation += 1
                generation = self._generation
                self._timer = self._timer_factory(wait, lambda: self._fire(generation))
                self._timer.start()

    def flush(self) -> None:
        """Redraw now, unthrottled (end of a job), dropping any scheduled redraw."""
        with self._lock:
            self._cancel_timer()
            self._run()

    def cancel(self) -> None:
        """Drop a scheduled redraw (the view is being reset or closed)."""
        with self._lock:
            self._cancel_timer()

    def _fire(self, generation: int) -> None:
        with self._lock:
            if self._timer is None or generation != self._generation:
                return  # cancelled or flushed after this timer went off
            self._timer = None
            self._run()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _run(self) -> None:
        self._last = self._clock()
        self._action()
