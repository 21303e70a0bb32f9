"""Measured quantities against width (or any size) on log-log axes, with fitted power laws.

The static companion of :class:`EmpiricalVsInfinite` for numbers a notebook
has already computed (gaps between trained networks and their limits, errors
against data size): points with standard-error bars, a weighted power-law fit
per series (:func:`nkwidgets.convergence.fit_power_law`) drawn dashed, and the
slopes in a legend above the figure, where it hides no point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import bqplot as bq
import ipywidgets as w
import numpy as np
import numpy.typing as npt

from ..convergence import PowerLawFit, fit_power_law
from ..errors import InputError
from ._axes import figure_margin, y_axis
from ._legend import legend_row
from ._log_ticks import LOG_TICK_CHARS, MAX_LOG_TICKS, log_axis_ticks

#: Okabe-Ito colours for series given none.
SERIES_COLOURS: Final = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")


class PowerLawPlot(w.VBox):
    """Series of positive values against positive ``x``, each with its fitted power law.

    Args:
      x: the abscissae shared by every series (e.g. widths), at least two.
      series: name -> ``(values, stderrs)`` (stderrs may be None), each as
        long as ``x``.
      title: the figure's title.
      x_label: the x axis's label.
      y_label: the y axis's label.
      labels: name -> text for the legend (default: the name).
      colours: name -> CSS colour (default: the Okabe-Ito palette in order).

    Attributes:
      fits: name -> :class:`~nkwidgets.convergence.PowerLawFit` of that series.
    """

    def __init__(
        self,
        x: npt.ArrayLike,
        series: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike | None]],
        *,
        title: str = "",
        x_label: str = "width",
        y_label: str = "",
        labels: Mapping[str, str] | None = None,
        colours: Mapping[str, str] | None = None,
    ):
        xs = np.asarray(x, dtype=float)
        if not series:
            raise InputError(
                "`series` is empty; pass {'name': (values, stderrs)} for each series."
            )
        labels = {name: (labels or {}).get(name, name) for name in series}
        palette = iter(SERIES_COLOURS * (1 + len(series) // len(SERIES_COLOURS)))
        self.colours = {
            name: (colours or {}).get(name) or next(palette) for name in series
        }
        x_scale, y_scale = bq.LogScale(), bq.LogScale()
        scales = {"x": x_scale, "y": y_scale}
        self.fits: dict[str, PowerLawFit] = {}
        marks: list[Any] = []
        on_y_axis = []
        for name, (values, stderrs) in series.items():
            y = _same_length(values, xs, f"series[{name!r}] values")
            se = (
                np.zeros_like(y)
                if stderrs is None
                else _same_length(stderrs, xs, f"series[{name!r}] stderrs")
            )
            self.fits[name] = fit = fit_power_law(
                xs, y, None if stderrs is None else se
            )
            colour = self.colours[name]
            # Bars stop short of zero, which a log axis cannot show.
            low = np.maximum(y - se, y / 10)
            ends = np.array([xs.min(), xs.max()])
            marks += [
                bq.Scatter(x=xs, y=y, scales=scales, colors=[colour]),
                bq.Lines(
                    x=np.stack([xs, xs], axis=1),
                    y=np.stack([low, y + se], axis=1),
                    scales=scales,
                    colors=[colour],
                ),
                bq.Lines(
                    x=ends,
                    y=fit(ends),
                    scales=scales,
                    colors=[colour],
                    line_style="dashed",
                ),
            ]
            on_y_axis += [y, low, y + se, fit(ends)]
        x_ticks = xs if np.unique(xs).size <= MAX_LOG_TICKS else None
        self.figure = bq.Figure(
            marks=marks,
            axes=[
                bq.Axis(
                    scale=x_scale,
                    label=x_label,
                    **(
                        {"tick_values": x_ticks, "tick_format": "~g"}
                        if x_ticks is not None
                        else log_axis_ticks(xs)
                    ),
                ),
                y_axis(
                    y_scale,
                    y_label,
                    LOG_TICK_CHARS,
                    **log_axis_ticks(np.concatenate(on_y_axis)),
                ),
            ],
            title=title,
            layout=w.Layout(width="640px", height="380px"),
            fig_margin=figure_margin(LOG_TICK_CHARS),
        )
        entries: list[tuple[Any, str, str]] = [
            (
                "dot",
                self.colours[name],
                f"{labels[name]}: slope {fit.slope:.2f} ± {fit.slope_stderr:.2f}",
            )
            for name, fit in self.fits.items()
        ]
        entries.append(("dashed", "#666666", "fitted power laws (± standard errors)"))
        self.legend = w.HTML(legend_row(entries))
        super().__init__([self.legend, self.figure])


def _same_length(values: Any, x: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != x.shape:
        raise InputError(
            f"`{what}` has shape {array.shape}, but `x` has {x.shape}: give one value "
            "per x."
        )
    return array
