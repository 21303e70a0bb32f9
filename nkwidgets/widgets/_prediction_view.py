"""How the infinite network learns: scores against training time, and a time slider.

Loss and accuracy of the NNGP and NTK predictions (train and test) against
training time on a log axis; a slider moves a marker along both figures and
updates the per-class predictions of a chosen test point, drawn as the ensemble
mean with a ±2σ bar over random initialisations. The view only draws what an
experiment's ``prediction`` event carries (``compute._prediction.predict_mse``);
it never computes. All state is in ipywidgets / bqplot models, so a saved
notebook shows the last state again.
"""

from __future__ import annotations

import math
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..compute import Event
from ..data import Dataset
from ._axes import figure_margin, y_axis
from ._legend import legend_row
from ._log_ticks import set_log_ticks
from ._style import KERNEL_COLOURS, KERNEL_TITLES, NEUTRAL, error_html

#: Horizontal offset of each kernel's mark within a class column.
_CLASS_OFFSET = {"nngp": -0.13, "ntk": 0.13}
# Outputs and metrics in ".1f"/".2f": "-0.5", "0.25"; 5 leaves room for "-1.25".
_Y_TICK_CHARS = 5
_MARGIN = figure_margin(_Y_TICK_CHARS)


def time_label(t: float) -> str:
    """A training time as the slider and titles show it."""
    if math.isinf(t):
        return "∞"
    return f"{t:.3g}" if 1e-3 <= t < 1e5 else f"{t:.1e}"


class PredictionView(w.VBox):
    """Scores of the infinite network against training time, with a time slider.

    Args:
      kernels: the kernels whose predictions will arrive (``"nngp"``, ``"ntk"``).
      dataset: the data predicted, for labels and (8×8 or image inputs) a
        picture of the selected test point.

    Feed it ``on_event`` (a Job subscriber) or ``show(predictions)``.
    """

    def __init__(self, kernels: tuple[str, ...], dataset: Dataset):
        self.kernels = tuple(kernels)
        self.dataset = dataset
        self.predictions: dict[str, dict[str, np.ndarray]] = {}
        self.t_scale = bq.LogScale()
        self.loss_fig, self.loss_scale = self._time_figure(
            "Mean squared error", ".2f", "top-right"
        )
        self.acc_fig, self.acc_scale = self._time_figure(
            "Accuracy", ".2f", "bottom-right"
        )
        self.markers = [self._marker(fig) for fig in (self.loss_fig, self.acc_fig)]
        self.slider = w.SelectionSlider(
            options=[("–", 0)],
            description="time t",
            disabled=True,
            continuous_update=True,
            layout=w.Layout(width="440px"),
        )
        self.probe_select = w.Dropdown(
            options=[("–", 0)],
            description="test point",
            disabled=True,
            layout=w.Layout(width="300px"),
        )
        self.class_scale = bq.LinearScale(min=-0.5, max=float(dataset.n_classes) - 0.5)
        self.output_scale = bq.LinearScale()
        self.probe_fig = bq.Figure(
            marks=[],
            axes=[
                bq.Axis(
                    scale=self.class_scale,
                    label="class",
                    tick_values=np.arange(dataset.n_classes),
                    tick_format="d",
                ),
                y_axis(
                    self.output_scale,
                    "predicted output (mean ± 2σ)",
                    _Y_TICK_CHARS,
                    tick_format=".1f",
                ),
            ],
            title="Per-class prediction (waiting for the kernels…)",
            legend_location="top-right",
            layout=w.Layout(width="440px", height="320px"),
            fig_margin=_MARGIN,
        )
        self.picture = _Picture(dataset)
        self.legend = w.HTML(legend_html(self.kernels))
        self.message = w.HTML("")
        self.slider.observe(self._on_time, names="value")
        self.probe_select.observe(self._on_probe, names="value")
        super().__init__(
            [
                self.legend,
                w.HBox([self.loss_fig, self.acc_fig]),
                w.HBox([self.slider, self.probe_select]),
                w.HBox([self.probe_fig, self.picture.box]),
                self.message,
            ]
        )

    # -- data in ---------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Job subscriber: draws ``prediction`` events, shows failures."""
        if event.kind == "prediction":
            self.show(event.data["predictions"])
        elif event.kind == "failed":
            self.show_error(
                f"{type(event.data['error']).__name__}: {event.data['error']}"
            )
        elif event.kind == "cancelled":
            self.show_error("Cancelled before the predictions were computed.")

    def show(self, predictions: dict[str, dict[str, np.ndarray]]) -> None:
        """Draw predictions as returned by ``compute._prediction.predict_mse``."""
        self.predictions = {g: predictions[g] for g in self.kernels if g in predictions}
        if not self.predictions:
            return
        first = next(iter(self.predictions.values()))
        t = first["t_curve"]
        self._draw_time_curves()
        probes = first["probe_index"]
        labels = self.dataset.labels_test
        with self.hold_sync():
            self.probe_select.options = [
                (f"#{int(i)} (class {int(labels[i])})", int(p))
                for p, i in enumerate(probes)
            ]
            self.probe_select.disabled = False
            self.slider.options = [(time_label(float(ti)), k) for k, ti in enumerate(t)]
            self.slider.disabled = False
            # Start where training has visibly started but not converged.
            self.slider.value = int(
                np.searchsorted(t, 10.0 ** np.median(np.log10(t[np.isfinite(t)])))
            )
        self._on_time()
        self.message.value = ""

    def show_error(self, text: str) -> None:
        self.message.value = error_html(text)

    # -- drawing -----------------------------------------------------------

    def _time_figure(
        self, y_label: str, fmt: str, legend: str
    ) -> tuple[bq.Figure, Any]:
        y_scale = bq.LinearScale()
        fig = bq.Figure(
            marks=[],
            axes=[
                bq.Axis(scale=self.t_scale, label="training time t"),
                y_axis(y_scale, y_label, _Y_TICK_CHARS, tick_format=fmt),
            ],
            title=f"{y_label} (waiting for the kernels…)",
            legend_location=legend,
            layout=w.Layout(width="440px", height="320px"),
            fig_margin=_MARGIN,
        )
        return fig, y_scale

    def _marker(self, fig: bq.Figure) -> bq.Lines:
        # Its own 0..1 scale spans the figure's height whatever the data range.
        return bq.Lines(
            x=[1.0, 1.0],
            y=[0.0, 1.0],
            scales={"x": self.t_scale, "y": bq.LinearScale(min=0.0, max=1.0)},
            colors=[NEUTRAL],
            stroke_width=1.5,
            line_style="dash_dotted",
            visible=False,
        )

    def _draw_time_curves(self) -> None:
        for fig, y_scale, key, title in (
            (self.loss_fig, self.loss_scale, "mse", "Mean squared error"),
            (self.acc_fig, self.acc_scale, "accuracy", "Accuracy"),
        ):
            marks: list[Any] = []
            for g, p in self.predictions.items():
                t = p["t_curve"]
                finite = np.isfinite(t)
                for split, style, width in (
                    ("", "solid", 2.5),
                    ("train_", "dashed", 1.5),
                ):
                    y = p[f"curve_{split}{key}"]
                    marks.append(
                        bq.Lines(
                            x=t[finite],
                            y=y[finite],
                            scales={"x": self.t_scale, "y": y_scale},
                            colors=[KERNEL_COLOURS[g]],
                            line_style=style,
                            stroke_width=width,
                            labels=[
                                f"{KERNEL_TITLES[g]} {'train' if split else 'test'}"
                            ],
                        )
                    )
            marker = self.markers[0 if key == "mse" else 1]
            with fig.hold_sync():
                fig.marks = [*marks, marker]
                set_log_ticks(
                    fig.axes[0],
                    np.concatenate([p["t_curve"] for p in self.predictions.values()]),
                )
                fig.title = f"{title} vs training time"

    def _on_time(self, _change: Any = None) -> None:
        if not self.predictions:
            return
        first = next(iter(self.predictions.values()))
        t = first["t_curve"]
        k = self.slider.value
        finite_t = t[np.isfinite(t)]
        # t = ∞ parks the marker at the right edge of the finite curves.
        x = float(t[k]) if np.isfinite(t[k]) else float(finite_t.max())
        for marker in self.markers:
            with marker.hold_sync():
                marker.x = [x, x]
                marker.visible = True
        self._draw_probe()

    def _on_probe(self, _change: Any = None) -> None:
        if self.predictions:
            self._draw_probe()

    def _draw_probe(self) -> None:
        p_idx = self.probe_select.value
        k = self.slider.value
        first = next(iter(self.predictions.values()))
        test_index = int(first["probe_index"][p_idx])
        label = int(self.dataset.labels_test[test_index])
        classes = np.arange(self.dataset.n_classes)
        marks: list[Any] = []
        scales = {"x": self.class_scale, "y": self.output_scale}
        lo, hi = [], []
        for g, p in self.predictions.items():
            mean_all = p["probe_mean"][:, p_idx]  # (T, C)
            std_all = p.get("probe_std")
            std_all = None if std_all is None else std_all[:, p_idx]  # (T,)
            x = classes + _CLASS_OFFSET[g]
            mean = mean_all[k]
            if std_all is not None:
                band = 2.0 * std_all[k]
                # Fixed y range across times, so moving the slider moves the marks.
                lo.append((mean_all - 2 * std_all[:, None]).min())
                hi.append((mean_all + 2 * std_all[:, None]).max())
                marks.append(
                    bq.Lines(
                        x=np.stack([x, x], 1),
                        y=np.stack([mean - band, mean + band], 1),
                        scales=scales,
                        colors=[KERNEL_COLOURS[g]],
                        stroke_width=2,
                    )
                )
            else:
                lo.append(mean_all.min())
                hi.append(mean_all.max())
            marks.append(
                bq.Scatter(
                    x=x,
                    y=mean,
                    scales=scales,
                    colors=[KERNEL_COLOURS[g]],
                    default_size=48,
                    labels=[
                        KERNEL_TITLES[g]
                        + ("" if std_all is not None else " (mean only)")
                    ],
                )
            )
        target = self.dataset.y_test[test_index]
        marks.append(
            bq.Scatter(
                x=classes,
                y=target,
                scales=scales,
                marker="rectangle",
                colors=[NEUTRAL],
                default_size=60,
                labels=["target"],
            )
        )
        lo.append(target.min())
        hi.append(target.max())
        pad = 0.05 * (max(hi) - min(lo))
        with self.probe_fig.hold_sync():
            self.output_scale.min = float(min(lo) - pad)
            self.output_scale.max = float(max(hi) + pad)
            self.probe_fig.marks = marks
            self.probe_fig.title = f"Test point #{test_index} (class {label}) at t = {time_label(float(first['t_curve'][k]))}"
        self.picture.show(test_index, label)


def legend_html(kernels: tuple[str, ...]) -> str:
    """One legend for all three figures, above them, where it hides no data."""
    return legend_row(
        [("solid", KERNEL_COLOURS[g], KERNEL_TITLES[g]) for g in kernels]
        + [
            ("solid", NEUTRAL, "test"),
            ("dashed", NEUTRAL, "train"),
            (
                "square",
                NEUTRAL,
                "target (per-class panel; bars: ±2σ over initialisations)",
            ),
        ]
    )


class _Picture:
    """The selected test input, when it is an image (or a square number of features)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        x = dataset.x_test
        side = int(round(math.sqrt(x[0].size)))
        self.shape = None
        if x.ndim == 4 and x.shape[-1] == 1:
            self.shape = x.shape[1:3]
        elif x.ndim == 2 and side * side == x.shape[1]:
            self.shape = (side, side)
        self.heatmap = None
        if self.shape is None:
            self.box = w.HTML("")
            return
        self.heatmap = bq.GridHeatMap(
            color=np.zeros(self.shape),
            scales={
                "row": bq.OrdinalScale(reverse=False),
                "column": bq.OrdinalScale(),
                "color": bq.ColorScale(scheme="Greys"),
            },
            stroke="transparent",
        )
        self.caption = w.HTML("")
        self.box = w.VBox(
            [
                bq.Figure(
                    marks=[self.heatmap],
                    padding_y=0,
                    fig_margin={"top": 10, "bottom": 10, "left": 10, "right": 10},
                    layout=w.Layout(width="170px", height="170px"),
                ),
                self.caption,
            ]
        )

    def show(self, index: int, label: int) -> None:
        if self.heatmap is None:
            return
        self.heatmap.color = np.asarray(self.dataset.x_test[index], float).reshape(
            self.shape
        )
        self.caption.value = f"<small>input #{index}, class {label}</small>"
