"""Live plot of training phases against the learning rate: ``PhasePlot``.

``PhasePlot`` subscribes to a Job running
:func:`nkwidgets.phase.learning_rate_sweeps` and draws what its events carry;
it never trains.

Reference:
  Lewkowycz et al., `The large learning rate phase of deep learning: the
  catapult mechanism <https://arxiv.org/abs/2003.02218>`_, 2020, figure 1.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..compute import Event, Job
from ..phase import PhaseRun, PhaseSweep
from ._axes import figure_margin, y_axis
from ._legend import SwatchKind, legend_row
from ._log_ticks import LOG_TICK_CHARS, set_log_ticks
from ._style import NEUTRAL

# Okabe & Ito's colour-blind-safe palette, one colour per model (width).
MODEL_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
# Background bands per phase: lazy sky blue, catapult orange, divergent vermillion.
PHASE_COLOURS = {"lazy": "#56B4E9", "catapult": "#E69F00", "divergent": "#D55E00"}
PHASE_OPACITY = 0.12
THEORY_ETA = 2.0  # eta * lambda_0 where the lazy phase ends in theory
# Divergent runs have no final loss: they sit at this height (axes fraction).
DIVERGED_Y = 0.95


def _figure(
    title: str, axes: list[bq.Axis], marks: list[Any], width: str = "420px"
) -> bq.Figure:
    return bq.Figure(
        marks=marks,
        axes=axes,
        title=title,
        layout=w.Layout(width=width, height="320px"),
        # Loss ticks take up to LOG_TICK_CHARS ("2·10⁻⁵"), λ ratios 4 ("0.95").
        fig_margin=figure_margin(LOG_TICK_CHARS),
    )


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha:.2f})"


class PhasePlot(w.VBox):
    """Final loss and :math:`\\lambda_T/\\lambda_0` against :math:`\\eta\\lambda_0`, one colour per model.

    Bands shade the phases measured on the last model to finish (the widest,
    if models are listed by width); a dashed line marks the theory's
    :math:`\\eta\\lambda_0 = 2`, dotted lines each model's measured divergence
    point. Clicking a point (or :meth:`select`) shows that run's loss and
    :math:`\\lambda_t/\\lambda_0` curves below.

    Args:
      job: a sweep Job to subscribe to (``None``: feed :meth:`on_event`, or
        use :meth:`from_sweeps`).
    """

    def __init__(self, job: Job | None = None):
        self.runs: dict[str, dict[int, PhaseRun]] = {}
        self.sweeps: dict[str, PhaseSweep] = {}
        self.selected: PhaseRun | None = None
        self.x_scale = bq.LogScale()
        self.loss_scale = bq.LogScale()
        self.ratio_scale = bq.LinearScale()
        self.band_scale = bq.LinearScale(min=0.0, max=1.0)
        self.bands: dict[str, bq.Lines] = {
            phase: bq.Lines(
                x=[],
                y=[],
                scales={"x": self.x_scale, "y": self.band_scale},
                fill="inside",
                colors=[colour],
                fill_colors=[colour],
                fill_opacities=[PHASE_OPACITY],
                # No outline. (`opacities=[0]` hid the fill too: no bands were drawn.)
                stroke_width=0,
                labels=[phase],
            )
            for phase, colour in PHASE_COLOURS.items()
        }
        self.theory_lines = [
            self._vline(THEORY_ETA, "black", "dashed") for _ in range(2)
        ]
        self._marks: dict[str, dict[str, Any]] = {}
        axes_x = [bq.Axis(scale=self.x_scale, label="η · λ0", tick_format=".3~g")]
        self.loss_fig = _figure(
            "Final loss (× at the top: diverged)",
            [
                *axes_x,
                y_axis(self.loss_scale, "loss after training", LOG_TICK_CHARS),
            ],
            [*self.bands.values(), self.theory_lines[0]],
        )
        self.ratio_fig = _figure(
            "Final top NTK eigenvalue λT / λ0",
            [
                bq.Axis(scale=self.x_scale, label="η · λ0", tick_format=".3~g"),
                y_axis(self.ratio_scale, "λT / λ0", LOG_TICK_CHARS, tick_format=".2f"),
            ],
            [*self._band_copies(), self.theory_lines[1]],
        )
        self.curves = RunCurves()
        self.status = w.HTML("waiting for runs…")
        self.legend = w.HTML(self._legend_html())
        super().__init__(
            [
                self.status,
                self.legend,
                w.HBox([self.loss_fig, self.ratio_fig]),
                self.curves.box,
            ]
        )
        if job is not None:
            job.subscribe(self.on_event)

    @classmethod
    def from_sweeps(
        cls, sweeps: Mapping[str, PhaseSweep] | Iterable[PhaseSweep]
    ) -> PhasePlot:
        """A plot of finished sweeps (``learning_rate_sweep`` results)."""
        plot = cls()
        items = sweeps.values() if isinstance(sweeps, Mapping) else sweeps
        for sweep in items:
            for run in sweep.runs:
                plot.on_event(Event("run_done", {"run": run}))
            plot.on_event(Event("sweep_done", {"sweep": sweep}))
        return plot

    # Marks ---------------------------------------------------------------

    def _band_copies(self) -> list[bq.Lines]:
        self.ratio_bands = {
            phase: bq.Lines(
                x=[],
                y=[],
                scales={"x": self.x_scale, "y": self.band_scale},
                fill="inside",
                colors=[PHASE_COLOURS[phase]],
                fill_colors=[PHASE_COLOURS[phase]],
                fill_opacities=[PHASE_OPACITY],
                # No outline. (`opacities=[0]` hid the fill too: no bands were drawn.)
                stroke_width=0,
            )
            for phase in PHASE_COLOURS
        }
        return list(self.ratio_bands.values())

    def _legend_html(self) -> str:
        """Models and line styles, above the figures: in them it covered points."""
        entries: list[tuple[SwatchKind, str, str]] = [
            ("dot", m["colour"], label) for label, m in self._marks.items()
        ]
        # The bands are pale fills; their swatches a little stronger to be seen.
        entries += [
            ("square", _rgba(colour, 3 * PHASE_OPACITY), phase)
            for phase, colour in PHASE_COLOURS.items()
        ]
        entries.append(("dashed", "black", f"theory ηλ0 = {THEORY_ETA:g}"))
        if self._marks:
            entries.append(("dotted", NEUTRAL, "measured divergence, per model"))
        return legend_row(entries)

    def _vline(self, x: float, colour: str, style: str) -> bq.Lines:
        return bq.Lines(
            x=[x, x],
            y=[0.0, 1.0],
            scales={"x": self.x_scale, "y": self.band_scale},
            colors=[colour],
            line_style=style,
            stroke_width=1.5,
        )

    def _model_marks(self, label: str) -> dict[str, Any]:
        if label in self._marks:
            return self._marks[label]
        colour = MODEL_COLOURS[len(self._marks) % len(MODEL_COLOURS)]

        def scatter(y_scale: Any, marker: str) -> bq.Scatter:
            mark = bq.Scatter(
                x=[],
                y=[],
                scales={"x": self.x_scale, "y": y_scale},
                colors=[colour],
                marker=marker,
                default_size=60,
                labels=[label],
                interactions={"click": "select"},
                unselected_style={"opacity": 0.9},
            )
            mark.on_element_click(
                lambda m, content, label=label: self._clicked(label, m, content)
            )
            return mark

        marks = {
            "colour": colour,
            "loss": scatter(self.loss_scale, "circle"),
            "ratio": scatter(self.ratio_scale, "circle"),
            "loss_div": scatter(self.band_scale, "cross"),
            "ratio_div": scatter(self.band_scale, "cross"),
            "divergence": [self._vline(np.nan, colour, "dotted") for _ in range(2)],
            "order": {},
        }
        self._marks[label] = marks
        self.legend.value = self._legend_html()
        self.loss_fig.marks = [
            *self.loss_fig.marks,
            marks["loss"],
            marks["loss_div"],
            marks["divergence"][0],
        ]
        self.ratio_fig.marks = [
            *self.ratio_fig.marks,
            marks["ratio"],
            marks["ratio_div"],
            marks["divergence"][1],
        ]
        return marks

    # Events --------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Job subscriber: draw each finished run, the boundaries, the status."""
        data = event.data
        if event.kind == "started":
            self.status.value = f"training {len(data['labels'])} model(s) at {len(data['eta_lambda0'])} learning rates…"
        elif event.kind == "lambda0":
            rates = data["rates"]
            self.status.value = (
                f"{html.escape(data['label'])}: λ0 = {rates.lambda0:.4g}, "
                f"η_crit = 2/λ0 = {rates.eta_crit:.4g}; training…"
            )
        elif event.kind == "run_done":
            run: PhaseRun = data["run"]
            self.runs.setdefault(run.label, {})[run.index] = run
            self._draw_model(run.label)
        elif event.kind == "progress":
            self.status.value = (
                f"{data['done']} / {data['total']} run-steps · {data['elapsed']:.1f} s"
            )
        elif event.kind == "sweep_done":
            sweep: PhaseSweep = data["sweep"]
            self.sweeps[sweep.label] = sweep
            self._draw_boundaries(sweep)
        elif event.kind == "done":
            self.status.value = self._summary()
        elif event.kind == "failed":
            self.status.value = (
                '<span style="color: var(--jp-error-color1)">'
                f"{html.escape(type(data['error']).__name__)}: {html.escape(str(data['error']))}</span>"
            )
        elif event.kind == "cancelled":
            self.status.value = "Cancelled; finished runs are kept."

    def _draw_model(self, label: str) -> None:
        marks = self._model_marks(label)
        runs = sorted(self.runs[label].values(), key=lambda r: r.eta_lambda0)
        alive = [r for r in runs if r.phase != "divergent"]
        dead = [r for r in runs if r.phase == "divergent"]
        marks["order"] = {
            "alive": [r.index for r in alive],
            "dead": [r.index for r in dead],
        }
        x_alive = np.array([r.eta_lambda0 for r in alive])
        x_dead = np.array([r.eta_lambda0 for r in dead])
        with marks["loss"].hold_sync():
            marks["loss"].x, marks["loss"].y = (
                x_alive,
                np.array([r.final_loss for r in alive]),
            )
        with marks["ratio"].hold_sync():
            marks["ratio"].x, marks["ratio"].y = (
                x_alive,
                np.array([r.final_lambda_ratio for r in alive]),
            )
        for key in ("loss_div", "ratio_div"):
            with marks[key].hold_sync():
                marks[key].x, marks[key].y = x_dead, np.full(x_dead.size, DIVERGED_Y)
        # Diverged runs sit on the band scale, not the loss scale.
        set_log_ticks(
            self.loss_fig.axes[1],
            np.array(
                [
                    r.final_loss
                    for runs in self.runs.values()
                    for r in runs.values()
                    if r.phase != "divergent"
                ]
            ),
        )

    def _draw_boundaries(self, sweep: PhaseSweep) -> None:
        for line in self._model_marks(sweep.label)["divergence"]:
            line.x = [sweep.divergence, sweep.divergence]
        lo = float(np.min(sweep.eta_lambda0)) / 1.2
        hi = float(np.max(sweep.eta_lambda0)) * 1.2
        edges = {
            "lazy": (lo, sweep.lazy_end),
            "catapult": (
                sweep.lazy_end,
                sweep.divergence if np.isfinite(sweep.divergence) else hi,
            ),
            "divergent": (sweep.divergence, hi),
        }
        for phase, (a, b) in edges.items():
            ok = np.isfinite(a) and np.isfinite(b) and b > a
            x = [a, b, b, a, a] if ok else []
            y = [0.0, 0.0, 1.0, 1.0, 0.0] if ok else []
            for band in (self.bands[phase], self.ratio_bands[phase]):
                with band.hold_sync():
                    band.x, band.y = x, y
        # The bands span every sweep's learning rates: the x scale's whole domain.
        span = [v for b in self.bands.values() for v in b.x]
        for fig in (self.loss_fig, self.ratio_fig):
            set_log_ticks(fig.axes[0], np.array(span))
        self.status.value = self._summary()

    def _summary(self) -> str:
        parts = []
        for label, sweep in self.sweeps.items():
            parts.append(
                f"<b>{html.escape(label)}</b>: λ0 = {sweep.lambda0:.4g}; lazy phase ends at "
                f"ηλ0 ≈ {sweep.lazy_end:.3g} (theory 2), divergence at ≈ {sweep.divergence:.3g}"
            )
        return "<br>".join(parts) or "no finished sweep"

    # Selection -----------------------------------------------------------

    def _clicked(self, label: str, mark: bq.Scatter, content: dict[str, Any]) -> None:
        index = content.get("data", {}).get("index", content.get("index"))
        if index is None:
            return
        order = self._marks[label]["order"]
        kind = (
            "dead"
            if mark in (self._marks[label]["loss_div"], self._marks[label]["ratio_div"])
            else "alive"
        )
        self.select(label, order[kind][int(index)])

    def select(self, label: str, index: int) -> PhaseRun:
        """Show the curves of run ``index`` (its position in the grid) of model ``label``."""
        try:
            run = self.runs[label][index]
        except KeyError:
            known = {k: sorted(v) for k, v in self.runs.items()}
            raise KeyError(
                f"no finished run ({label!r}, {index}); finished runs: {known}."
            ) from None
        self.selected = run
        self.curves.show(run, self._marks[label]["colour"])
        return run


class RunCurves:
    """Loss and :math:`\\lambda_t/\\lambda_0` against step for one run."""

    def __init__(self) -> None:
        self.step_scale = bq.LinearScale()
        self.loss_scale = bq.LogScale()
        self.ratio_scale = bq.LinearScale()
        self.loss_line = bq.Lines(
            x=[],
            y=[],
            scales={"x": self.step_scale, "y": self.loss_scale},
            stroke_width=2,
        )
        self.ratio_line = bq.Lines(
            x=[],
            y=[],
            scales={"x": self.step_scale, "y": self.ratio_scale},
            stroke_width=2,
            marker="circle",
            marker_size=20,
        )
        self.loss_fig = _figure(
            "Click a point to see its run",
            [
                bq.Axis(scale=self.step_scale, label="step"),
                y_axis(self.loss_scale, "loss", LOG_TICK_CHARS),
            ],
            [self.loss_line],
        )
        self.ratio_fig = _figure(
            "λt / λ0",
            [
                bq.Axis(scale=self.step_scale, label="step"),
                y_axis(self.ratio_scale, "λt / λ0", LOG_TICK_CHARS, tick_format=".2f"),
            ],
            [self.ratio_line],
        )
        self.box = w.HBox([self.loss_fig, self.ratio_fig])

    def show(self, run: PhaseRun, colour: str) -> None:
        steps = np.arange(run.loss.size)
        keep = np.isfinite(run.loss) & (run.loss > 0)
        with self.loss_line.hold_sync():
            self.loss_line.x, self.loss_line.y = steps[keep], run.loss[keep]
            self.loss_line.colors = [colour]
        set_log_ticks(self.loss_fig.axes[1], run.loss[keep])
        ratio = run.lambdas / run.lambda0
        ok = np.isfinite(ratio)
        with self.ratio_line.hold_sync():
            self.ratio_line.x, self.ratio_line.y = run.lambda_steps[ok], ratio[ok]
            self.ratio_line.colors = [colour]
        stop = (
            f", stopped at step {run.diverged_at}"
            if run.diverged_at is not None
            else ""
        )
        self.loss_fig.title = (
            f"{run.label} · ηλ0 = {run.eta_lambda0:.3g} · {run.phase}{stop}"
        )
        self.ratio_fig.title = f"λt / λ0 (final {run.final_lambda_ratio:.3f})"
