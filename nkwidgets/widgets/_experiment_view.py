"""The live output of one ``%%nk`` experiment: progress, kernel heatmap, predictions.

It subscribes to the experiment's Job and only draws what the events carry;
it never computes. Events arrive on the job's thread; ipykernel >= 7.1 sends
comm messages from threads safely.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..compute import Event, Experiment
from ..compute._runner import format_duration
from ._kernel_heatmap import KernelHeatmap
from ._prediction_view import PredictionView
from ._style import KERNEL_TITLES, error_html
from ._throttle import Throttle

#: Progress-bar and status-line redraws a second, however fast blocks finish.
STATUS_UPDATES_PER_S = 10


class ExperimentView(w.VBox):
    """Progress bar, one heatmap of the kernels (train x train), accuracy and MSE vs t."""

    def __init__(
        self,
        experiment: Experiment,
        result_name: str = "nk_result",
        *,
        max_updates_per_s: float = STATUS_UPDATES_PER_S,
    ):
        self.experiment = experiment
        self.result_name = result_name
        # Small blocks finish thousands of times a second; the progress bar and
        # status line are redrawn at most max_updates_per_s times, the last
        # state always included.
        self._done = 0
        self._status_text = "starting…"
        self._throttle = Throttle(self._draw_progress, max_updates_per_s)
        ds = experiment.dataset
        n_train = len(ds.x_train)
        # Known once the job starts: block_size = auto is decided on the job's
        # thread (it compiles), so the cell returns at once and a network that
        # fails to compile reports in the view like any other failure.
        self.block_size: int | None = None
        self.header = w.HTML(self._header_html())
        self.progress = w.IntProgress(
            value=0, min=0, max=1, layout=w.Layout(width="320px")
        )
        self.status = w.HTML("starting…")
        # One heatmap holds every kernel; its buttons switch between them (and
        # NTK - NNGP), so both stay on one colour bar and one zoom.
        what = " and ".join(KERNEL_TITLES[n] for n in experiment.compute)
        self.heatmap = KernelHeatmap(
            n_train,
            kernels=tuple(experiment.compute),
            title=f"{what}, train × train (rows sorted by class)",
            row_labels=ds.labels_train,
            color_range="robust",
        )
        self.message = w.HTML("")
        self._pace = _Pace(0)
        children: list[Any] = [
            self.header,
            w.HBox([self.progress, self.status]),
            self.heatmap,
        ]
        self.figures = None
        if experiment.predict is not None:
            self.figures = PredictionView(tuple(experiment.compute), ds)
            children.append(self.figures)
        children.append(self.message)
        super().__init__(children)

    def _header_html(self) -> str:
        e = self.experiment
        what = " and ".join(KERNEL_TITLES[n] for n in e.compute)
        return (
            f"<b>nkwidgets</b> · {what} of the infinite network on "
            f"<code>{html.escape(e.dataset.name)}</code> · {e.dtype}"
            + (
                ""
                if self.block_size is None
                else f" · blocks of {self.block_size} × {self.block_size}"
            )
        )

    def on_event(self, event: Event) -> None:
        """Job subscriber: route each event to the part of the view it updates."""
        data = event.data
        if event.kind == "started":
            self.progress.max = data["total"]
            self._pace = _Pace(data.get("cached", 0))
            self.heatmap.blocks_total = data["train_blocks"]
            self.block_size = data["block_size"]
            self.header.value = self._header_html()
        elif event.kind == "block_done":
            block = data["block"]
            if block.target == "train_train":
                self.heatmap.add_block(
                    block.row0, block.col0, dict(data["values"]), mirror=block.mirrored
                )
        elif event.kind == "progress":
            done, total, elapsed = data["done"], data["total"], data["elapsed"]
            left = self._pace.seconds_left(done, total, elapsed)
            self._done = done
            self._status_text = f"&nbsp;{done} / {total} blocks · {elapsed:.1f} s" + (
                "" if left is None else f" · about {format_duration(left)} left"
            )
            self._throttle.request()
        elif event.kind == "prediction" and self.figures is not None:
            self.figures.show(data["predictions"])
        elif event.kind == "done":
            self._throttle.flush()
            self.heatmap.flush()
            self.progress.bar_style = "success"
            self.message.value = (
                f"Done. The arrays are in <code>{html.escape(self.result_name)}</code> "
                "(<code>.kernels</code>, <code>.predictions</code>)."
            )
        elif event.kind == "failed":
            self._show_error(f"{type(data['error']).__name__}: {data['error']}")
        elif event.kind == "cancelled":
            self._show_error("Cancelled; finished blocks are kept in the heatmap.")

    def _draw_progress(self) -> None:
        self.progress.value = self._done
        self.status.value = self._status_text

    def _show_error(self, text: str) -> None:
        self._throttle.flush()
        self.progress.bar_style = "danger"
        self.heatmap.error = text
        self.message.value = error_html(text)


class _Pace:
    """Time left, from the pace of the blocks computed so far.

    Cached blocks arrive at once and the first computed one carries the
    compile, so the pace is measured from the first computed block on, and
    only once a few more have followed it.
    """

    #: Computed blocks after the first before an estimate is shown.
    MIN_BLOCKS = 2

    def __init__(self, cached: int):
        self.cached = cached
        self.first: tuple[int, float] | None = None  # (done, elapsed) then

    def seconds_left(self, done: int, total: int, elapsed: float) -> float | None:
        if done <= self.cached or done >= total:
            return None
        if self.first is None:
            self.first = (done, elapsed)
            return None
        blocks = done - self.first[0]
        if blocks < self.MIN_BLOCKS:
            return None
        return (elapsed - self.first[1]) / blocks * (total - done)
