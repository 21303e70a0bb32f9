"""Tests of ``nkwidgets/widgets/_empirical_vs_infinite.py`` and ``_throttle.py``.

No network runs here: the view is fed events shaped as
``nkwidgets.convergence.width_convergence`` publishes them (documented in its
docstring; ``tests/test_convergence_job.py`` checks a real sweep emits exactly
that sequence), and ``comm.create_comm`` is replaced by a recorder, so each
test sees the messages the widgets would put on the wire.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import comm
import ipywidgets
import numpy as np
import pytest
from comm.base_comm import BaseComm

from nkwidgets._convergence._sweep import summarize
from nkwidgets.compute import Event, Job
from nkwidgets.convergence import WidthPoint, fit_power_law
from nkwidgets.widgets import EmpiricalVsInfinite
from nkwidgets.widgets._empirical_vs_infinite import LOG_BAR_FLOOR
from nkwidgets.widgets._throttle import Throttle

N = 5  # examples: kernels are 5 x 5
WIDTHS = [64, 256, 1024]
N_SAMPLES = 4


@dataclass
class Message:
    msg_type: str
    data: dict[str, Any]
    buffers: list[bytes] = field(default_factory=list)


class RecordingComm(BaseComm):
    """A comm that keeps what it publishes instead of sending it."""

    def __init__(self, **kwargs: Any) -> None:
        self.messages: list[Message] = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        del metadata, keys
        self.messages.append(
            Message(msg_type, data or {}, [bytes(b) for b in buffers or []])
        )


@pytest.fixture(autouse=True)
def recorded_comms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", RecordingComm)


#: How long to wait for a throttled redraw from a timer thread (a wait, not a
#: bound: the throttle's own limits are asserted separately).
REDRAW_WAIT_S = 30.0


def updates(widget: ipywidgets.Widget) -> list[Message]:
    """State updates and custom messages ``widget`` sent after it opened."""
    assert isinstance(widget.comm, RecordingComm)
    return [
        m for m in widget.comm.messages if m.data.get("method") in ("update", "custom")
    ]


def matrix(heatmap) -> np.ndarray:
    # One kernel per heatmap: drop the kernel axis whatever its layout.
    return np.asarray(heatmap.values).reshape(N, N)


def _spd(seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(N, N))
    return a @ a.T / N + np.eye(N)


@dataclass
class Recording:
    """A sweep's events, as the Job publishes them, and what they should show."""

    events: list[Event]
    points: dict[int, WidthPoint]
    means: dict[int, np.ndarray]
    infinite: dict[int, np.ndarray]


def record_sweep(widths=WIDTHS, n_samples=N_SAMPLES) -> Recording:
    events = [
        Event(
            "started",
            {
                "widths": widths,
                "n_samples": n_samples,
                "n_examples": N,
                "total": len(widths) * n_samples,
            },
        )
    ]
    points, means, infinite, finished = {}, {}, {}, []
    done = 0
    for index, width in enumerate(widths):
        infinite[width] = _spd(1000 + width)
        events.append(
            Event(
                "width_started",
                {"width": width, "index": index, "infinite": infinite[width]},
            )
        )
        for s in range(1, n_samples + 1):
            done += 1
            # Errors ~ width^-1/2 with a small spread that shrinks with s.
            error = 2.0 * width**-0.5 * (1 + 0.1 / s)
            point = WidthPoint(
                width, s, error, error * 0.1 if s > 1 else math.nan, error / 2
            )
            kernel = infinite[width] + _spd(s + width) / width
            events.append(
                Event(
                    "sample",
                    {
                        "point": point,
                        "sample_error": error,
                        "kernel": kernel,
                        "done": done,
                        "total": len(widths) * n_samples,
                        "elapsed": 0.1 * done,
                    },
                )
            )
        points[width], means[width] = point, kernel
        finished.append(point)
        fit = (
            None
            if len(finished) < 2
            else fit_power_law(
                [p.width for p in finished],
                [p.error for p in finished],
                [p.stderr for p in finished],
            )
        )
        events.append(Event("width_done", {"point": point, "fit": fit}))
    result = summarize(finished, n_samples, means, infinite)
    events.append(Event("done", {"result": result}))
    return Recording(events, points, means, infinite)


def feed(view: EmpiricalVsInfinite, events: list[Event]) -> None:
    for event in events:
        view.on_event(event)


def test_empty_state_says_how_to_start():
    view = EmpiricalVsInfinite()
    assert (
        "No sweep yet" in view.status.value and "width_convergence" in view.status.value
    )
    assert view.empirical is None and view.infinite is None
    assert "appear here" in view.kernels_box.children[0].value
    assert view.points.x.size == 0 and view.fit_line.x.size == 0
    assert view.selector.disabled and view.selector.options == ()
    assert "waiting" in view.error_plot.title


def test_finished_sweep_draws_errors_fit_and_both_kernels():
    rec = record_sweep()
    view = EmpiricalVsInfinite()
    feed(view, rec.events)
    result = rec.events[-1].data["result"]

    errors = np.array([rec.points[n].error for n in WIDTHS])
    stderrs = np.array([rec.points[n].stderr for n in WIDTHS])
    np.testing.assert_array_equal(view.points.x, WIDTHS)
    np.testing.assert_allclose(view.points.y, errors)
    np.testing.assert_allclose(view.error_bars.x, np.stack([WIDTHS, WIDTHS], 1))
    np.testing.assert_allclose(
        view.error_bars.y, np.stack([errors - stderrs, errors + stderrs], 1)
    )
    np.testing.assert_allclose(view.mean_kernel_points.y, errors / 2)
    np.testing.assert_allclose(view.fit_line.x, [64, 1024])
    np.testing.assert_allclose(view.fit_line.y, result.fit(np.array([64.0, 1024.0])))
    slope = f"slope {result.slope:.2f} ± {result.slope_stderr:.2f}"
    assert view.fit_line.labels == [slope] and slope in view.legend.value
    assert slope in view.error_plot.title and "theory −1/2" in view.error_plot.title
    # Log axes labelled at the widths and at a few readable error values that lie
    # inside everything drawn on the y scale.
    np.testing.assert_array_equal(view.x_axis.tick_values, WIDTHS)
    y_ticks = np.asarray(view.y_axis.tick_values)
    drawn = np.concatenate([view.error_bars.y.ravel(), view.mean_kernel_points.y])
    assert 2 <= y_ticks.size <= 8
    assert drawn.min() <= y_ticks.min() and y_ticks.max() <= drawn.max()

    # Following the sweep ends on its last width; the kernels are that width's.
    assert view.selector.value == 1024
    assert [v for _, v in view.selector.options] == WIDTHS
    np.testing.assert_allclose(matrix(view.empirical), rec.means[1024], rtol=1e-6)
    np.testing.assert_allclose(matrix(view.infinite), rec.infinite[1024], rtol=1e-6)
    assert "width 1024" in view.empirical.title
    assert (
        view.progress.bar_style == "success"
        and view.progress.value == view.progress.max
    )
    assert "Done" in view.status.value and f"{result.slope:.2f}" in view.status.value


def test_error_bars_stay_above_zero_on_log_axes():
    rec = record_sweep(widths=[4, 16])
    for event in rec.events:
        if event.kind in ("sample", "width_done"):
            p = event.data["point"]
            event.data["point"] = p._replace(stderr=3 * p.error)  # would reach below 0
    view = EmpiricalVsInfinite()
    feed(view, rec.events[:-1])
    view.on_event(Event("cancelled", {}))
    assert np.all(
        view.error_bars.y[:, 0] == pytest.approx(view.points.y * LOG_BAR_FLOOR)
    )
    assert "Cancelled" in view.status.value and view.progress.bar_style == "warning"


def test_picking_a_width_shows_its_kernels_and_stops_following():
    rec = record_sweep()
    view = EmpiricalVsInfinite(max_updates_per_s=1e9)  # unthrottled: check logic
    second = next(
        i
        for i, e in enumerate(rec.events)
        if e.kind == "width_started" and e.data["width"] == 256
    )
    feed(view, rec.events[:second])
    assert view.selector.value == 64
    view.selector.value = 64  # the user picks the width being measured: keep following
    feed(view, rec.events[second : second + 3])
    assert view.selector.value == 256
    view.selector.value = 64  # the user looks back: stop following
    np.testing.assert_allclose(matrix(view.empirical), rec.means[64], rtol=1e-6)
    np.testing.assert_allclose(matrix(view.infinite), rec.infinite[64], rtol=1e-6)
    feed(view, rec.events[second + 3 :])
    assert view.selector.value == 64
    np.testing.assert_allclose(matrix(view.empirical), rec.means[64], rtol=1e-6)


def test_failure_shows_the_error_text():
    rec = record_sweep()
    view = EmpiricalVsInfinite()
    feed(view, rec.events[:4])
    view.on_event(Event("failed", {"error": ValueError("network <b>broke</b>")}))
    assert "ValueError: network &lt;b&gt;broke&lt;/b&gt;" in view.status.value
    assert "--jp-error-color1" in view.status.value
    assert view.progress.bar_style == "danger"
    assert (
        view.empirical.error
        == view.infinite.error
        == "ValueError: network <b>broke</b>"
    )
    # What was measured before the failure stays on the plot.
    assert view.points.x.tolist() == [64]


def test_a_finished_job_is_drawn_from_its_result():
    rec = record_sweep()
    result = rec.events[-1].data["result"]
    job = Job(lambda context: result)
    job.run_here()
    view = EmpiricalVsInfinite(job)
    np.testing.assert_array_equal(view.points.x, WIDTHS)
    np.testing.assert_allclose(matrix(view.empirical), rec.means[1024], rtol=1e-6)
    assert "Done" in view.status.value

    failed = Job(lambda context: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed.run_here()
    assert "ZeroDivisionError" in EmpiricalVsInfinite(failed).status.value


def test_a_running_job_reaches_the_view():
    rec = record_sweep()
    release = threading.Event()

    def work(context):
        for event in rec.events[:-1]:
            context.emit(event.kind, **event.data)
        release.wait(5)
        return rec.events[-1].data["result"]

    job = Job(work)
    view = EmpiricalVsInfinite(job)
    job.start()
    release.set()
    job.result(timeout=5)
    np.testing.assert_array_equal(view.points.x, WIDTHS)
    assert view.progress.bar_style == "success"


def test_front_end_updates_are_throttled_whatever_the_event_rate():
    rec = record_sweep(widths=[64, 256], n_samples=2)
    view = EmpiricalVsInfinite()
    first = rec.events[:3]  # started, width_started, first sample
    feed(view, first)

    def shows_first() -> bool:
        # The whole first picture, both heatmaps' frames included: counting
        # must not start while a timer thread is still part-way through it.
        if view.empirical is None or view.infinite is None:
            return False
        return np.allclose(
            matrix(view.empirical), first[2].data["kernel"], rtol=1e-6
        ) and np.allclose(matrix(view.infinite), first[1].data["infinite"], rtol=1e-6)

    # Their trailing redraws come from timer threads, which a loaded CI
    # machine ran more than 5 s late once: wait generously.
    deadline = time.monotonic() + REDRAW_WAIT_S
    while not shows_first() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert shows_first(), "the first sample not drawn within REDRAW_WAIT_S"
    sample = rec.events[3]
    widgets = [
        view.points,
        view.error_bars,
        view.status,
        view.progress,
        view.empirical,
        view.infinite,
    ]
    before = {id(wd): len(updates(wd)) for wd in widgets}
    events = 0
    start = time.monotonic()
    while time.monotonic() - start < 0.5:
        point = sample.data["point"]._replace(
            n_samples=events + 2, error=0.1 + 1e-6 * events
        )
        view.on_event(
            Event("sample", {**sample.data, "point": point, "kernel": _spd(events)})
        )
        events += 1
    last = events - 1

    def shows_last() -> bool:
        return view.points.y[-1] == pytest.approx(0.1 + 1e-6 * last) and np.allclose(
            matrix(view.empirical), _spd(last), rtol=1e-6
        )

    # The trailing redraws (the view's, then the heatmap's frame) come from
    # timer threads; a loaded machine may run them late.
    deadline = time.monotonic() + REDRAW_WAIT_S
    while not shows_last() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shows_last()  # the last state is the one shown
    elapsed = time.monotonic() - start
    # A flood of events costs at most one redraw per 1/20 s over the whole
    # window, plus the first one and the trailing one.
    allowed = 20 * elapsed + 2
    assert events > 10 * allowed, (events, allowed)
    for wd in widgets:
        sent = len(updates(wd)) - before[id(wd)]
        # A heatmap redraw is a block message and a state update.
        per_redraw = 2 if wd in (view.empirical, view.infinite) else 1
        assert sent <= per_redraw * allowed, (type(wd).__name__, sent, allowed)


def _descendants(widget: ipywidgets.Widget) -> set[str]:
    """Model ids of ``widget`` and every widget its state refers to."""
    seen: set[str] = set()
    stack = [widget]
    while stack:
        current = stack.pop()
        if current.model_id in seen:
            continue
        seen.add(current.model_id)
        for name in current.keys:
            value = getattr(current, name)
            if isinstance(value, dict):
                values = list(value.values())
            else:
                values = list(value) if isinstance(value, list | tuple) else [value]
            stack += [v for v in values if isinstance(v, ipywidgets.Widget)]
    return seen


def test_saved_notebook_state_holds_the_finished_picture():
    rec = record_sweep()
    view = EmpiricalVsInfinite()
    feed(view, rec.events)
    # What JupyterLab writes into the notebook on save, and renders on reload
    # without a kernel.
    saved = ipywidgets.Widget.get_manager_state(drop_defaults=False)["state"]
    ids = _descendants(view)
    assert ids <= set(saved)
    points = saved[view.points.model_id]["state"]
    assert {"x", "y"} <= set(points)
    heatmap = saved[view.empirical.model_id]
    (values,) = [b for b in heatmap["buffers"] if b["path"] == ["values"]]
    stored = np.frombuffer(base64.b64decode(values["data"]), "<f4").reshape(N, N)
    np.testing.assert_allclose(stored, rec.means[1024], rtol=1e-6)
    assert "Done" in saved[view.status.model_id]["state"]["value"]
    assert saved[view.legend.model_id]["state"]["value"] == view.legend.value
    assert "fit: slope" in view.legend.value


class ManualTimer:
    """A timer that fires only when the test says so."""

    def __init__(self, delay: float, fn) -> None:
        self.delay, self.fn, self.started, self.cancelled = delay, fn, False, False

    def start(self) -> None:
        self.started = True

    def cancel(self) -> None:
        self.cancelled = True


def test_throttle_runs_at_once_then_once_more_at_the_end_of_the_interval():
    now = [100.0]
    calls: list[float] = []
    timers: list[ManualTimer] = []

    def timer(delay, fn):
        timers.append(ManualTimer(delay, fn))
        return timers[-1]

    throttle = Throttle(
        lambda: calls.append(now[0]), 20.0, clock=lambda: now[0], timer=timer
    )
    throttle.request()
    assert calls == [100.0]
    now[0] = 100.01
    throttle.request()
    throttle.request()
    assert calls == [100.0] and len(timers) == 1
    assert timers[0].delay == pytest.approx(0.04) and timers[0].started
    now[0] = 100.05
    timers[0].fn()
    assert calls == [100.0, 100.05]
    now[0] = 100.06
    throttle.request()  # schedules again
    throttle.flush()  # ... which the flush makes moot
    assert calls == [100.0, 100.05, 100.06] and timers[1].cancelled
    timers[1].fn()  # a timer that fires after being cancelled does nothing
    assert len(calls) == 3
    with pytest.raises(ValueError, match="max_per_s"):
        Throttle(lambda: None, 0)
