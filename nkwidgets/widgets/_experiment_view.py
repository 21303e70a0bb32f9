"""The live output of one ``%%nk`` experiment: progress, kernel heatmaps, predictions.

It subscribes to the experiment's Job and only draws what the events carry;
it never computes. Events arrive on the job's thread; ipykernel >= 7.1 sends
comm messages from threads safely.
"""

from __future__ import annotations

import html

from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..compute import Event, Experiment
from ._kernel_heatmap import KernelHeatmap

KERNEL_TITLES = {"nngp": "NNGP", "ntk": "NTK"}
# Colour-blind-safe pair (Okabe & Ito): NNGP orange, NTK blue, used in every plot.
KERNEL_COLOURS = {"nngp": "#E69F00", "ntk": "#0072B2"}


class ExperimentView(w.VBox):
    """Progress bar, one heatmap per kernel (train x train), accuracy and MSE vs t."""

    def __init__(self, experiment: Experiment, result_name: str = "nk_result"):
        self.experiment = experiment
        self.result_name = result_name
        ds = experiment.dataset
        n_train = len(ds.x_train)
        blocks_total = sum(1 for b in experiment.blocks() if b.target == "train_train")
        self.header = w.HTML(self._header_html())
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        self.status = w.HTML("starting…")
        self.heatmaps = {
            name: KernelHeatmap(
                n_train,
                title=f"{KERNEL_TITLES[name]} train × train (rows sorted by class)",
                row_labels=ds.labels_train,
                blocks_total=blocks_total,
                color_range="robust",
            )
            for name in experiment.compute
        }
        self.message = w.HTML("")
        children: list[Any] = [
            self.header,
            w.HBox([self.progress, self.status]),
            w.HBox(list(self.heatmaps.values())),
        ]
        self.figures = None
        if experiment.predict is not None:
            self.figures = PredictionFigures(experiment.compute)
            children.append(self.figures.box)
        children.append(self.message)
        super().__init__(children)

    def _header_html(self) -> str:
        e = self.experiment
        what = " and ".join(KERNEL_TITLES[n] for n in e.compute)
        return (
            f"<b>nkwidgets</b> · {what} of the infinite network on "
            f"<code>{html.escape(e.dataset.name)}</code> · {e.dtype}"
        )

    def on_event(self, event: Event) -> None:
        """Job subscriber: route each event to the part of the view it updates."""
        data = event.data
        if event.kind == "started":
            self.progress.max = data["total"]
        elif event.kind == "block_done":
            block = data["block"]
            if block.target == "train_train":
                for name, value in data["values"].items():
                    self.heatmaps[name].add_block(
                        block.row0, block.col0, value, mirror=block.mirrored
                    )
        elif event.kind == "progress":
            self.progress.value = data["done"]
            self.status.value = f"&nbsp;{data['done']} / {data['total']} blocks · {data['elapsed']:.1f} s"
        elif event.kind == "prediction" and self.figures is not None:
            self.figures.show(data["predictions"])
        elif event.kind == "done":
            for heatmap in self.heatmaps.values():
                heatmap.flush()
            self.progress.bar_style = "success"
            self.message.value = (
                f"Done. The arrays are in <code>{html.escape(self.result_name)}</code> "
                "(<code>.kernels</code>, <code>.predictions</code>)."
            )
        elif event.kind == "failed":
            self._show_error(f"{type(data['error']).__name__}: {data['error']}")
        elif event.kind == "cancelled":
            self._show_error("Cancelled; finished blocks are kept in the heatmaps.")

    def _show_error(self, text: str) -> None:
        self.progress.bar_style = "danger"
        for heatmap in self.heatmaps.values():
            heatmap.error = text
        self.message.value = (
            '<pre style="color: var(--jp-error-color1); white-space: pre-wrap">'
            f"{html.escape(text)}</pre>"
        )


class PredictionFigures:
    """Test accuracy and test MSE of the infinite network against training time."""

    def __init__(self, kernels: tuple[str, ...]):
        self.kernels = kernels
        self.x_scale = bq.LogScale()
        self.acc_scale = bq.LinearScale()
        self.mse_scale = bq.LinearScale()
        self.acc_fig = self._figure("Test accuracy", self.acc_scale, "accuracy", "bottom-right")
        self.mse_fig = self._figure("Test MSE", self.mse_scale, "mean squared error", "top-right")
        self.box = w.HBox([self.acc_fig, self.mse_fig])

    def _figure(self, title: str, y_scale: Any, y_label: str, legend_location: str) -> bq.Figure:
        axes = [
            bq.Axis(scale=self.x_scale, label="training time t", tick_format=",.0f"),
            bq.Axis(scale=y_scale, orientation="vertical", label=y_label, tick_format=".2f"),
        ]
        return bq.Figure(
            marks=[],
            axes=axes,
            title=f"{title} (waiting for the kernels…)",
            legend_location=legend_location,
            layout=w.Layout(width="440px", height="320px"),
            fig_margin={"top": 50, "bottom": 50, "left": 60, "right": 20},
        )

    def show(self, predictions: dict[str, dict[str, np.ndarray]]) -> None:
        for fig, key, title in (
            (self.acc_fig, "accuracy", "Test accuracy"),
            (self.mse_fig, "mse", "Test MSE"),
        ):
            marks = []
            for name in self.kernels:
                p = predictions[name]
                marks += _time_marks(p["t"], p[key], name, self.x_scale, fig.axes[1].scale)
            with fig.hold_sync():
                fig.axes[0].tick_values = _decades(predictions)
                fig.marks = marks
                fig.title = title + " vs training time (dashed: t = ∞)"


def _decades(predictions: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """Powers of ten spanning the finite, positive training times: clean log ticks."""
    t = np.concatenate([p["t"] for p in predictions.values()])
    t = t[np.isfinite(t) & (t > 0)]
    if t.size == 0:
        return np.array([1.0])
    lo, hi = np.floor(np.log10(t.min())), np.ceil(np.log10(t.max()))
    return 10.0 ** np.arange(lo, hi + 1)


def _time_marks(t: np.ndarray, y: np.ndarray, name: str, x_scale: Any, y_scale: Any) -> list[Any]:
    finite = np.isfinite(t) & (t > 0)
    colour = KERNEL_COLOURS[name]
    scales = {"x": x_scale, "y": y_scale}
    marks: list[Any] = []
    if finite.any():
        marks.append(
            bq.Lines(
                x=t[finite],
                y=y[finite],
                scales=scales,
                colors=[colour],
                marker="circle",
                marker_size=40,
                stroke_width=2.5,
                labels=[KERNEL_TITLES[name]],
                display_legend=True,
            )
        )
    converged = ~np.isfinite(t)
    if converged.any():
        t_lo = float(t[finite].min()) if finite.any() else 1.0
        t_hi = float(t[finite].max()) if finite.any() else 10.0
        level = float(y[converged][0])
        marks.append(
            bq.Lines(
                x=[t_lo, t_hi],
                y=[level, level],
                scales=scales,
                colors=[colour],
                line_style="dashed",
                stroke_width=1.5,
                labels=[f"{KERNEL_TITLES[name]} t = ∞"],
                display_legend=not finite.any(),
            )
        )

    return marks
