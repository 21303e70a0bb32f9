"""Standard vs NTK parameterization across widths: three panels of one comparison.

Draws a :class:`~nkwidgets.parameterization.ParameterizationComparison`:
how far finite networks' NTKs are from their limits, the largest stable
learning rate, and test accuracy of finite vs infinitely wide networks.
"""

from __future__ import annotations

from typing import Any, Final

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..parameterization import ParameterizationComparison
from ._axes import figure_margin, y_axis
from ._legend import legend_row
from ._log_ticks import LOG_TICK_CHARS, MAX_LOG_TICKS, log_axis_ticks, log_ticks
from ._style import KERNEL_COLOURS

# Okabe-Ito: the NTK parameterization in the house NTK blue, the standard one
# in vermillion, the shared NNGP in the house NNGP orange.
PARAMETERIZATION_COLOURS: Final = {"ntk": "#0072B2", "standard": "#D55E00"}
PARAMETERIZATION_TITLES: Final = {"ntk": "NTK param.", "standard": "standard param."}
NNGP_COLOUR: Final = KERNEL_COLOURS["nngp"]


class ParameterizationPlot(w.VBox):
    """Kernel distance, stable learning rate and test accuracy against width."""

    def __init__(self, comparison: ParameterizationComparison):
        self.comparison = comparison
        c = comparison
        self.distance_fig = self._figure(
            "Finite NTK vs its limit",
            "‖eNTK − NTK‖ / ‖NTK‖",
            c.ntk_distance,
            log_y=True,
        )
        self.lr_fig = self._figure(
            "Largest stable learning rate",
            "2n / λ_max(NTK)",
            c.learning_rate,
            log_y=True,
        )
        self.accuracy_fig = self._accuracy_figure()
        # One legend above the three panels, where it hides no point.
        self.legend = w.HTML(_legend_html())
        super().__init__(
            [
                self.legend,
                w.HBox([self.distance_fig, self.lr_fig]),
                self.accuracy_fig,
                w.HTML(_nngp_note(c)),
            ]
        )

    def _figure(
        self, title: str, y_label: str, series: dict[str, np.ndarray], log_y: bool
    ) -> bq.Figure:
        x_scale = bq.LogScale()
        y_scale = bq.LogScale() if log_y else bq.LinearScale()
        marks = [
            bq.Lines(
                x=self.comparison.widths,
                y=values,
                scales={"x": x_scale, "y": y_scale},
                colors=[PARAMETERIZATION_COLOURS[p]],
                marker="circle",
                marker_size=40,
                stroke_width=2,
            )
            for p, values in series.items()
        ]
        return _make_figure(title, marks, x_scale, y_scale, y_label, "")

    def _accuracy_figure(self) -> bq.Figure:
        c = self.comparison
        x_scale, y_scale = bq.LogScale(), bq.LinearScale()
        scales = {"x": x_scale, "y": y_scale}
        marks: list[Any] = []
        for p, finite in c.finite_accuracy.items():
            colour = PARAMETERIZATION_COLOURS[p]
            marks.append(
                bq.Lines(
                    x=c.widths,
                    y=finite,
                    scales=scales,
                    colors=[colour],
                    marker="circle",
                    marker_size=40,
                    stroke_width=2,
                )
            )
            marks.append(
                bq.Lines(
                    x=c.widths,
                    y=c.kernel_accuracy[p],
                    scales=scales,
                    colors=[colour],
                    line_style="dashed",
                    stroke_width=1.5,
                )
            )
        marks.append(
            bq.Lines(
                x=[c.widths[0], c.widths[-1]],
                y=[c.nngp_accuracy] * 2,
                scales=scales,
                colors=[NNGP_COLOUR],
                line_style="dotted",
                stroke_width=1.5,
            )
        )
        return _make_figure(
            f"Test accuracy after {c.steps} GD steps at {c.lr_fraction:g} × the largest rate",
            marks,
            x_scale,
            y_scale,
            "test accuracy",
            ".0%",
            width="900px",
        )


def _make_figure(
    title: str,
    marks: list[Any],
    x_scale: Any,
    y_scale: Any,
    y_label: str,
    y_format: str,
    width: str = "440px",
) -> bq.Figure:
    # Label the widths themselves (few, usually powers of two); a log y axis
    # gets readable ticks instead of bqplot's crowded 1-2-5 per decade.
    widths = np.unique(np.concatenate([np.ravel(m.x) for m in marks]))
    x_ticks = widths if widths.size <= MAX_LOG_TICKS else log_ticks(widths)
    y_traits = (
        log_axis_ticks(np.concatenate([np.ravel(m.y) for m in marks]))
        if isinstance(y_scale, bq.LogScale)
        else {"tick_format": y_format}
    )
    return bq.Figure(
        marks=marks,
        axes=[
            bq.Axis(
                scale=x_scale,
                label="hidden width N",
                tick_format=".0f",
                tick_values=x_ticks,
            ),
            y_axis(y_scale, y_label, LOG_TICK_CHARS, **y_traits),
        ],
        title=title,
        layout=w.Layout(width=width, height="320px"),
        fig_margin=figure_margin(LOG_TICK_CHARS),
    )


def _legend_html() -> str:
    entries: list[tuple[Any, str, str]] = [
        ("dot", PARAMETERIZATION_COLOURS[p], PARAMETERIZATION_TITLES[p])
        for p in PARAMETERIZATION_COLOURS
    ]
    entries += [
        ("solid", "#666666", "finite networks (points)"),
        ("dashed", "#666666", "infinite width"),
        ("dotted", NNGP_COLOUR, "NNGP (both parameterizations)"),
    ]
    return legend_row(entries)


def _nngp_note(c: ParameterizationComparison) -> str:
    # The two NNGPs agree in theory; "differ by at most 0.0e+00" says it badly.
    same = (
        "are identical at every width"
        if c.nngp_max_difference == 0
        else f"differ by at most {c.nngp_max_difference:.1e} (relative) at every width"
    )
    return (
        f"The NNGPs of the two parameterizations {same}; "
        f"NNGP regression accuracy {c.nngp_accuracy:.1%}."
    )
