"""Kernel spectra on log-log axes with a fitted power law, and learning curves.

Draws what ``nkwidgets.spectrum`` computed. The fit range is the reader's
choice (a slider): a power law holds only between the few top eigenvalues and
the round-off floor, and where is a judgement the plot should let one make.
Moving the slider refits a straight line to the points already drawn.
"""

from __future__ import annotations

import html
from typing import Any, Final

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..errors import InputError
from ..spectrum import LearningCurve, PowerLaw, ScienceError, fit_power_law
from ._axes import figure_margin, y_axis
from ._legend import legend_row
from ._log_ticks import LOG_TICK_CHARS, log_axis_ticks
from ._style import KERNEL_COLOURS, KERNEL_TITLES

# Kernels other than NNGP and NTK cycle through the rest of the Okabe & Ito palette.
OTHER_COLOURS: Final = ("#009E73", "#CC79A7", "#56B4E9", "#D55E00")


class SpectrumPlot(w.VBox):
    """Eigenvalues vs rank (log-log) with fitted exponents; learning curves beside."""

    def __init__(
        self,
        eigenvalues: dict[str, np.ndarray],
        fit_range: tuple[int, int] | None = None,
        learning_curve: LearningCurve | None = None,
        title: str = "Kernel spectra",
    ):
        """Draw ``eigenvalues`` (name -> descending values) and optionally a learning curve.

        Args:
          eigenvalues: e.g. ``{"nngp": spectrum(k.nngp), "ntk": spectrum(k.ntk)}``.
          fit_range: initial ranks ``(k_min, k_max)`` of the power-law fit
            (default: 1 to a tenth of the ranks).
          learning_curve: a :class:`~nkwidgets.spectrum.LearningCurve` to plot
            beside; its fitted exponents join the legend.
          title: heading of the view.
        """
        if not eigenvalues:
            raise InputError(
                "`eigenvalues` is empty; pass {'ntk': spectrum(...)} at least."
            )
        self.eigenvalues = {
            k: np.asarray(v, dtype=float) for k, v in eigenvalues.items()
        }
        n = min(len(v) for v in self.eigenvalues.values())
        lo, hi = fit_range if fit_range is not None else (1, max(2, n // 10))
        if not 1 <= lo < hi <= n:
            raise InputError(
                f"`fit_range={fit_range!r}` must satisfy 1 <= k_min < k_max <= {n} "
                "(the number of eigenvalues)."
            )
        # One colour per kernel across both figures and the legend.
        curve_names = learning_curve.test_mse if learning_curve is not None else {}
        self.colours = _colours({**self.eigenvalues, **curve_names})
        self.fits: dict[str, PowerLaw] = {}
        self.range_slider = w.IntRangeSlider(
            value=(lo, hi),
            min=1,
            max=n,
            description="fit ranks",
            continuous_update=False,
            layout=w.Layout(width="440px"),
        )
        self.fit_text = w.HTML("")
        # Above the figures, where it hides no eigenvalue; refit updates it.
        self.legend = w.HTML("")
        self.learning_curve = learning_curve
        self._build_spectrum_figure()
        children: list[Any] = [w.HTML(f"<b>{html.escape(title)}</b>"), self.legend]
        figures: list[Any] = [self.spectrum_fig]
        self.curve_fig = None
        if learning_curve is not None:
            self.curve_fig = learning_curve_figure(learning_curve, self.colours)
            figures.append(self.curve_fig)
        children += [w.HBox(figures), self.range_slider, self.fit_text]
        super().__init__(children)
        self.range_slider.observe(self._on_range, names="value")
        self._refit()

    def _build_spectrum_figure(self) -> None:
        self.x_scale = bq.LogScale()
        self.y_scale = bq.LogScale()
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.points: dict[str, Any] = {}
        self.fit_lines: dict[str, Any] = {}
        marks = []
        ranks, kept = [], []
        for name, values in self.eigenvalues.items():
            rank = np.arange(1, len(values) + 1)
            # Round-off leaves the tail at or below zero: off a log axis.
            keep = values > 0
            ranks.append(rank[keep])
            kept.append(values[keep])
            self.points[name] = bq.Lines(
                x=rank[keep],
                y=values[keep],
                scales=scales,
                colors=[self.colours[name]],
                stroke_width=2,
            )
            self.fit_lines[name] = bq.Lines(
                x=[],
                y=[],
                scales=scales,
                colors=["#000000"],
                line_style="dashed",
                stroke_width=1.5,
            )
            marks += [self.points[name], self.fit_lines[name]]
        self.spectrum_fig = bq.Figure(
            marks=marks,
            axes=[
                bq.Axis(
                    scale=self.x_scale,
                    label="rank k",
                    **log_axis_ticks(np.concatenate(ranks)),
                ),
                y_axis(
                    self.y_scale,
                    "eigenvalue of K / n",
                    LOG_TICK_CHARS,
                    **log_axis_ticks(np.concatenate(kept)),
                ),
            ],
            title="Eigenvalues (dashed: fitted k^-α)",
            layout=w.Layout(width="440px", height="340px"),
            fig_margin=figure_margin(LOG_TICK_CHARS),
        )

    def _on_range(self, change: dict[str, Any]) -> None:
        del change
        self._refit()

    def _refit(self) -> None:
        lo, hi = self.range_slider.value
        rows = []
        for name, values in self.eigenvalues.items():
            try:
                fit = fit_power_law(values, x_min=lo, x_max=hi)
            except ScienceError as e:  # e.g. a range reaching the round-off tail
                self.fit_text.value = f'<span style="color: var(--jp-error-color1)">{html.escape(str(e))}</span>'
                return
            self.fits[name] = fit
            k = np.array([lo, hi], dtype=float)
            with self.fit_lines[name].hold_sync():
                self.fit_lines[name].x = k
                self.fit_lines[name].y = fit(k)
            rows.append(f"{_title(name)}: α = {fit.exponent:.3f}")
        self.fit_text.value = f"ranks {lo}–{hi}: " + " · ".join(rows)
        self.legend.value = self._legend_html()

    def _legend_html(self) -> str:
        curve = self.learning_curve
        entries = []
        for name in self.colours:
            parts = []
            if name in self.fits:
                parts.append(f"α = {self.fits[name].exponent:.2f}")
            if curve is not None and name in curve.fits:
                parts.append(f"α_D = {curve.fits[name].exponent:.2f}")
            entries.append(
                ("solid", self.colours[name], f"{_title(name)}: {', '.join(parts)}")
            )
        entries.append(("dashed", "#000000", "fitted power laws"))
        return legend_row(entries)


def learning_curve_figure(
    curve: LearningCurve, colours: dict[str, str] | None = None
) -> bq.Figure:
    """Test MSE against training set size (log-log), one line per kernel, fitted exponents."""
    colours = {**_colours(curve.test_mse), **(colours or {})}
    x_scale, y_scale = bq.LogScale(), bq.LogScale()
    scales = {"x": x_scale, "y": y_scale}
    marks = []
    for name, mse in curve.test_mse.items():
        fit = curve.fits[name]
        marks.append(
            bq.Lines(
                x=curve.sizes,
                y=mse,
                scales=scales,
                colors=[colours[name]],
                marker="circle",
                marker_size=40,
                stroke_width=2,
            )
        )
        d = np.array([fit.x_min, fit.x_max])
        marks.append(
            bq.Lines(
                x=d,
                y=fit(d),
                scales=scales,
                colors=["#000000"],
                line_style="dashed",
                stroke_width=1.5,
            )
        )
    return bq.Figure(
        marks=marks,
        axes=[
            bq.Axis(
                scale=x_scale,
                label="training set size D",
                **log_axis_ticks(np.asarray(curve.sizes)),
            ),
            y_axis(
                y_scale,
                "test MSE",
                LOG_TICK_CHARS,
                **log_axis_ticks(
                    np.concatenate([np.ravel(m) for m in curve.test_mse.values()])
                ),
            ),
        ],
        title="Learning curves (dashed: fitted D^-α_D)",
        layout=w.Layout(width="440px", height="340px"),
        fig_margin=figure_margin(LOG_TICK_CHARS),
    )


def _title(name: str) -> str:
    return KERNEL_TITLES.get(name, name)


def _colours(names: Any) -> dict[str, str]:
    others = iter(OTHER_COLOURS * (1 + len(names) // len(OTHER_COLOURS)))
    return {name: KERNEL_COLOURS.get(name) or next(others) for name in names}
