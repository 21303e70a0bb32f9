"""Finite networks' empirical NTK converging to the infinite NTK, drawn while it is measured.

It subscribes to a width sweep's Job (:func:`nkwidgets.convergence.width_convergence`)
and only draws what the events carry: the error against width on log-log axes
with the fitted power law, and the running mean empirical NTK of one width next
to the infinite NTK. Events arrive on the job's thread, as fast as networks are
drawn; redraws go to the front end through a :class:`Throttle`, at most
``max_updates_per_s`` a second, and the last state is always drawn.

Everything shown lives in the synced traits of the child widgets (bqplot marks,
heatmaps' ``values``, HTML), so a saved notebook shows the finished sweep
without a kernel.
"""

from __future__ import annotations

import html
import threading
from typing import Any, Final

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..compute import Event, Job
from ..convergence import ConvergenceResult, PowerLawFit, WidthPoint
from ._axes import figure_margin, y_axis
from ._kernel_heatmap import KernelHeatmap
from ._legend import SwatchKind, legend_row
from ._log_ticks import set_log_ticks
from ._style import KERNEL_COLOURS
from ._throttle import Throttle

#: Front-end redraws a second at most, whatever the rate of events: enough for
#: a smooth animation, few enough that a websocket never queues them.
MAX_UPDATES_PER_S: Final = 20.0

#: Okabe-Ito colours, readable on light and dark themes: the measured errors in
#: the NTK blue, the fitted law in vermillion, the averaged kernel's error in
#: bluish green.
ERROR_COLOUR: Final = KERNEL_COLOURS["ntk"]
FIT_COLOUR: Final = "#D55E00"
MEAN_KERNEL_COLOUR: Final = "#009E73"

#: On log axes an error bar cannot reach zero; a bar whose lower end would is
#: drawn down to this fraction of its point instead.
LOG_BAR_FLOOR: Final = 0.1

_MUTED: Final = "color: var(--jp-ui-font-color2)"
_ERROR: Final = "color: var(--jp-error-color1); white-space: pre-wrap; margin: 0"
_KERNELS_PLACEHOLDER: Final = (
    "The running mean empirical NTK of the selected width and the infinite NTK "
    "appear here side by side."
)
_EMPTY_STATUS: Final = (
    f'<span style="{_MUTED}">No sweep yet. Start one with '
    "<code>job = width_convergence(network_at_width, x, widths, n_samples, key)</code>, "
    "show <code>EmpiricalVsInfinite(job)</code>, then <code>job.start()</code>.</span>"
)


class EmpiricalVsInfinite(w.VBox):
    """Relative error of finite-width NTKs vs width, and the kernels side by side.

    Args:
        job: a width sweep from
            :func:`~nkwidgets.convergence.width_convergence`, subscribed at
            once (create the view before ``job.start()`` to see every event;
            a finished job is drawn from its result). ``None``: an empty view;
            call :meth:`attach` later.
        max_updates_per_s: most front-end redraws a second.

    Examples:
        >>> view = EmpiricalVsInfinite()
        >>> view.selector.options, view.error_plot.marks[0].x.size
        ((), 0)
    """

    def __init__(
        self, job: Job | None = None, *, max_updates_per_s: float = MAX_UPDATES_PER_S
    ) -> None:
        self._lock = threading.RLock()
        self._throttle = Throttle(self._redraw, max_updates_per_s)
        self._clear_state()

        self.header = w.HTML(
            "<b>nkwidgets</b> · empirical NTK of finite networks vs the "
            "infinite-width NTK"
        )
        self.progress = w.IntProgress(
            value=0, min=0, max=1, layout=w.Layout(width="260px")
        )
        self.status = w.HTML(_EMPTY_STATUS)
        self.selector = w.Dropdown(
            options=[],
            description="width",
            disabled=True,
            layout=w.Layout(width="200px"),
        )
        self.selector.observe(self._on_select, names="value")
        self._build_plot()
        self.legend = w.HTML(_legend_html(None))
        # Heatmaps are made when the first kernel arrives, at its size; until
        # then the row says what will appear there.
        self.empirical: KernelHeatmap | None = None
        self.infinite: KernelHeatmap | None = None
        self.kernels_box = w.HBox(
            [w.HTML(f'<span style="{_MUTED}">{_KERNELS_PLACEHOLDER}</span>')]
        )
        super().__init__(
            [
                self.header,
                w.HBox([self.progress, self.status]),
                self.legend,
                self.error_plot,
                self.selector,
                self.kernels_box,
            ]
        )
        if job is not None:
            self.attach(job)

    def _clear_state(self) -> None:
        self._widths: list[int] = []
        self._points: dict[int, WidthPoint] = {}
        self._kernels: dict[int, np.ndarray] = {}
        self._versions: dict[int, int] = {}
        self._infinite: dict[int, np.ndarray] = {}
        self._fit: PowerLawFit | None = None
        self._live: int | None = None
        self._follow = True
        self._selected: int | None = None  # what the selector should show
        self._selecting = False  # the view itself is setting the selector
        self._plot_stale = False
        self._shown: tuple[int, int] | None = None  # (width, version) drawn
        self._shown_infinite: int | None = None
        self._done = 0
        self._total = 1
        self._status_html = _EMPTY_STATUS
        self._bar_style = ""
        self._error = ""
        self._final = False

    def _build_plot(self) -> None:
        self.x_scale = bq.LogScale()
        self.y_scale = bq.LogScale()
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.points = bq.Scatter(
            x=np.empty(0),
            y=np.empty(0),
            scales=scales,
            colors=[ERROR_COLOUR],
            default_size=48,
            labels=["one network: mean ± s.e."],
        )
        self.error_bars = bq.Lines(
            x=np.empty(0), y=np.empty(0), scales=scales, colors=[ERROR_COLOUR]
        )
        self.mean_kernel_points = bq.Scatter(
            x=np.empty(0),
            y=np.empty(0),
            scales=scales,
            colors=[MEAN_KERNEL_COLOUR],
            marker="diamond",
            default_size=36,
            labels=["averaged kernel"],
        )
        self.fit_line = bq.Lines(
            x=np.empty(0),
            y=np.empty(0),
            scales=scales,
            colors=[FIT_COLOUR],
            line_style="dashed",
            stroke_width=2,
            labels=["fit"],
        )
        self.x_axis = bq.Axis(scale=self.x_scale, label="width", tick_format="d")
        # "~" drops trailing zeros ("0.05", not "0.050"); "0.001" is the widest.
        self.y_axis = y_axis(
            self.y_scale, "‖K_emp − K_inf‖ / ‖K_inf‖", 5, tick_format=".2~g"
        )
        self.error_plot = bq.Figure(
            marks=[
                self.points,
                self.error_bars,
                self.mean_kernel_points,
                self.fit_line,
            ],
            axes=[self.x_axis, self.y_axis],
            title="Relative error vs width (waiting for a sweep)",
            layout=w.Layout(width="640px", height="360px"),
            fig_margin=figure_margin(5),
        )

    def attach(self, job: Job) -> None:
        """Subscribe to ``job``; a job that already finished is drawn from its result."""
        # Lock order is always throttle, then view (a redraw holds the
        # throttle's lock while it takes the view's), never the reverse.
        self._throttle.cancel()
        with self._lock:
            self._clear_state()
            self._status_html = (
                f'<span style="{_MUTED}">waiting for the job to start…</span>'
            )
        job.subscribe(self.on_event)
        if job.done():
            try:
                self.on_event(Event("done", {"result": job.result()}))
            except Exception as error:  # noqa: BLE001 - shown, not raised
                self.on_event(Event("failed", {"error": error}))
        else:
            self._throttle.flush()

    def on_event(self, event: Event) -> None:
        """Job subscriber: record what the event says, then redraw (throttled)."""
        data = event.data
        final = event.kind in ("done", "failed", "cancelled")
        with self._lock:
            if event.kind == "started":
                self._start(data["widths"], data["total"])
            elif event.kind == "width_started":
                self._infinite[data["width"]] = np.asarray(data["infinite"])
                self._live = data["width"]
                if self._follow:
                    self._select(data["width"])
                self._status_html = self._running_text(data["width"], 0)
            elif event.kind == "sample":
                point: WidthPoint = data["point"]
                self._record(point)
                if data["kernel"] is not None:
                    self._kernels[point.width] = np.asarray(data["kernel"])
                    self._versions[point.width] = self._versions.get(point.width, 0) + 1
                self._done, self._total = data["done"], data["total"]
                self._status_html = self._running_text(
                    point.width, point.n_samples, data["elapsed"]
                )
            elif event.kind == "width_done":
                self._record(data["point"])
                self._fit = data["fit"]
            elif event.kind == "done":
                self._show_result(data["result"])
            elif event.kind == "failed":
                error = data["error"]
                self._fail(f"{type(error).__name__}: {error}")
            elif event.kind == "cancelled":
                self._bar_style = "warning"
                self._final = True
                self._status_html = f'<span style="{_MUTED}">Cancelled; finished widths are kept.</span>'
            else:
                return
        if final:
            self._throttle.flush()
        else:
            self._throttle.request()

    def _start(self, widths: list[int], total: int) -> None:
        self._clear_state()
        self._widths = list(widths)
        self._total = max(int(total), 1)
        self._status_html = self._running_text(None, 0)
        self._plot_stale = True

    def _record(self, point: WidthPoint) -> None:
        if point.width not in self._widths:
            self._widths.append(point.width)
        self._points[point.width] = point
        self._plot_stale = True

    def _select(self, width: int) -> None:
        if width not in self._widths:
            self._widths.append(width)
        self._selected = width

    def _on_select(self, change: dict[str, Any]) -> None:
        with self._lock:
            if self._selecting:
                return
            # Following the sweep stops when the user looks elsewhere and
            # resumes when they pick the width being measured.
            self._selected = change["new"]
            self._follow = change["new"] == self._live
        self._throttle.request()

    def _draw_selector(self) -> None:
        options = tuple((str(n), n) for n in self._widths)
        self._selecting = True
        try:
            with self.selector.hold_sync():
                if self.selector.options != options:
                    self.selector.options = options
                if self.selector.value != self._selected:
                    self.selector.value = self._selected
                self.selector.disabled = not options
        finally:
            self._selecting = False

    def _show_result(self, result: ConvergenceResult) -> None:
        if not self._widths:
            self._widths = [int(n) for n in result.widths]
        for i, width in enumerate(int(n) for n in result.widths):
            self._record(
                WidthPoint(
                    width,
                    result.n_samples,
                    float(result.errors[i]),
                    float(result.stderrs[i]),
                    float(result.mean_kernel_errors[i]),
                )
            )
        for width, kernel in result.mean_kernels.items():
            self._kernels[width] = np.asarray(kernel)
            self._versions[width] = self._versions.get(width, 0) + 1
        self._infinite.update(result.infinite_kernels)
        self._fit = result.fit
        if self._selected is None and self._widths:
            self._select(self._widths[-1])
        self._done = self._total = max(len(result.widths) * result.n_samples, 1)
        self._bar_style = "success"
        self._final = True
        slope = (
            ""
            if result.fit is None
            else f" · fitted slope <b>{result.slope:.2f} ± {result.slope_stderr:.2f}</b>"
            " (theory −1/2)"
        )
        self._status_html = (
            f"&nbsp;Done: {len(result.widths)} widths × {result.n_samples} "
            f"networks{slope}"
        )

    def _fail(self, text: str) -> None:
        self._bar_style = "danger"
        self._error = text
        self._final = True
        self._status_html = f'<pre style="{_ERROR}">{html.escape(text)}</pre>'

    def _running_text(
        self, width: int | None, n: int, elapsed: float | None = None
    ) -> str:
        where = "" if width is None else f"width {width}: {n} networks · "
        clock = "" if elapsed is None else f" · {elapsed:.1f} s"
        return f"&nbsp;{where}{self._done} / {self._total} in all{clock}"

    def _redraw(self) -> None:
        """Push the recorded state to the child widgets (runs throttled)."""
        with self._lock:
            with self.progress.hold_sync():
                self.progress.max = self._total
                self.progress.value = min(self._done, self._total)
                self.progress.bar_style = self._bar_style
            self.status.value = self._status_html
            self._draw_selector()
            if self._plot_stale:
                self._draw_plot()
                self._plot_stale = False
            self._draw_heatmaps()
            for heatmap in (self.empirical, self.infinite):
                if heatmap is None:
                    continue
                if self._error:
                    heatmap.error = self._error
                if self._final:
                    heatmap.flush()

    def _draw_plot(self) -> None:
        widths = [n for n in self._widths if n in self._points]
        x = np.array(widths, np.float64)
        pts = [self._points[n] for n in widths]
        y = np.array([p.error for p in pts], np.float64)
        se = np.nan_to_num(np.array([p.stderr for p in pts], np.float64))
        lo = np.maximum(y - se, y * LOG_BAR_FLOOR)
        with self.points.hold_sync():
            self.points.x, self.points.y = x, y
        with self.error_bars.hold_sync():
            if x.size:
                self.error_bars.x = np.stack([x, x], axis=1)
                self.error_bars.y = np.stack([lo, y + se], axis=1)
            else:
                self.error_bars.x, self.error_bars.y = np.empty(0), np.empty(0)
        with self.mean_kernel_points.hold_sync():
            self.mean_kernel_points.x = x
            self.mean_kernel_points.y = np.array(
                [p.mean_kernel_error for p in pts], np.float64
            )
        fit = self._fit
        with self.fit_line.hold_sync():
            if fit is None or x.size < 2:
                self.fit_line.x, self.fit_line.y = np.empty(0), np.empty(0)
            else:
                ends = np.array([x.min(), x.max()])
                self.fit_line.x, self.fit_line.y = ends, fit(ends)
                self.fit_line.labels = [_slope_text(fit)]
        legend = _legend_html(fit if x.size >= 2 else None)
        if self.legend.value != legend:
            self.legend.value = legend
        on_y_axis = [y, lo, y + se, self.mean_kernel_points.y, self.fit_line.y]
        with self.error_plot.hold_sync():
            if x.size:
                self.x_axis.tick_values = x
                set_log_ticks(
                    self.y_axis, np.concatenate([np.ravel(v) for v in on_y_axis])
                )
            self.error_plot.title = "Relative error vs width" + (
                "" if fit is None else f": {_slope_text(fit)} (theory −1/2)"
            )

    def _draw_heatmaps(self) -> None:
        width = self._selected
        if width is None:
            return
        if width in self._infinite and self._shown_infinite != width:
            kernel = self._infinite[width]
            infinite = self._heatmaps(kernel.shape[0])[1]
            infinite.reset(kernel.shape[0])
            infinite.title = f"Infinite-width NTK ({kernel.shape[0]} inputs)"
            infinite.add_block(0, 0, kernel)
            self._shown_infinite = width
        version = self._versions.get(width)
        if version is None or self._shown == (width, version):
            return
        kernel = self._kernels[width]
        empirical = self._heatmaps(kernel.shape[0])[0]
        if self._shown is None or self._shown[0] != width:
            # Colours start afresh per width: a narrow network's wide range
            # must not wash out a wider one's.
            empirical.reset(kernel.shape[0])
        # Fixed per width (the number of networks is in the status line), so a
        # redraw sends the matrix and nothing else.
        empirical.title = f"Empirical NTK, width {width}: running mean over networks"
        # A whole-matrix write: the running mean is one evolving matrix, so
        # each redraw overwrites all of it.
        empirical.add_block(0, 0, kernel)
        self._shown = (width, version)

    def _heatmaps(self, n: int) -> tuple[KernelHeatmap, KernelHeatmap]:
        """The two heatmaps, made at the first kernel's size ``n`` when first needed."""
        if self.empirical is None or self.infinite is None:
            # Both built before either is published: a reader on another
            # thread (the notebook, while a timer thread redraws) must never
            # see one heatmap without the other.
            empirical = KernelHeatmap(n, title="Empirical NTK")
            infinite = KernelHeatmap(n, title="Infinite-width NTK")
            self.empirical, self.infinite = empirical, infinite
            self.kernels_box.children = [empirical, infinite]
        return self.empirical, self.infinite


def _legend_html(fit: PowerLawFit | None) -> str:
    """Above the plot, not in it: bqplot's own legend box covered the points."""
    entries: list[tuple[SwatchKind, str, str]] = [
        ("dot", ERROR_COLOUR, "one network: mean ± s.e."),
        ("diamond", MEAN_KERNEL_COLOUR, "averaged kernel"),
    ]
    if fit is not None:
        entries.append(("dashed", FIT_COLOUR, f"fit: {_slope_text(fit)}"))
    return legend_row(entries)


def _slope_text(fit: PowerLawFit) -> str:
    if np.isnan(fit.slope_stderr):
        return f"slope {fit.slope:.2f}"
    return f"slope {fit.slope:.2f} ± {fit.slope_stderr:.2f}"
