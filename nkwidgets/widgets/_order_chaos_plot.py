"""The order–chaos phase diagram of a deep network's initialization: ``OrderChaosPlot``.

``OrderChaosPlot`` draws an :class:`~nkwidgets.phase.OrderChaosDiagram` and
recomputes it when a control changes (a 100 x 100 grid takes about a second
on CPU once compiled).

Reference:
  Xiao, Pennington, Schoenholz, `Disentangling trainability and
  generalization in deep neural networks <https://arxiv.org/abs/1912.13053>`_,
  ICML 2020, figure 1.
"""

from __future__ import annotations

from collections.abc import Callable

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..phase import DIAGRAM_FIELDS, OrderChaosDiagram, order_chaos_diagram
from ._axes import nice_ticks

#: At most this many labels on the colour bar (440 px tall).
COLOUR_TICKS = 6

# What each diagram field is drawn as: (title, transform). log10 where the
# quantity spans decades (depth scales, condition numbers).
FIELD_DISPLAY: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "chi1": ("χ1", lambda v: v),
    "q_star": ("q*", lambda v: v),
    "chi_q": ("χq", lambda v: v),
    "xi_q": ("log10 ξq", np.log10),
    "c_star": ("c*", lambda v: v),
    "chi_c": ("χc", lambda v: v),
    "xi_c": ("log10 ξc", np.log10),
    "kappa": ("log10 NTK condition number", np.log10),
}


def display_values(diagram: OrderChaosDiagram, field: str) -> np.ndarray:
    """The heatmap colours: the field, log10 where it spans decades, non-finite as NaN."""
    _, transform = FIELD_DISPLAY[field]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = transform(np.asarray(diagram.field(field), np.float64))
    return np.where(np.isfinite(values), values, np.nan)


class OrderChaosPlot(w.VBox):
    """A heatmap of one order–chaos field with the :math:`\\chi_1 = 1` line.

    Controls pick the field, the activation and the depth of the NTK condition
    number; a change recomputes the diagram with ``compute`` (default
    :func:`nkwidgets.phase.order_chaos_diagram`) on the same grid.

    Args:
      diagram: the diagram to show first.
      field: one of :data:`nkwidgets.phase.DIAGRAM_FIELDS`.
      compute: ``compute(activation, sigma_w2, sigma_b2, depth=...)``.
    """

    def __init__(
        self,
        diagram: OrderChaosDiagram,
        field: str = "kappa",
        compute: Callable[..., OrderChaosDiagram] = order_chaos_diagram,
    ):
        if field not in DIAGRAM_FIELDS:
            raise ValueError(f"`field={field!r}` must be one of {DIAGRAM_FIELDS}.")
        self.diagram = diagram
        self.compute = compute
        self.x_scale = bq.LinearScale()
        self.y_scale = bq.LinearScale()
        self.color_scale = bq.ColorScale(scheme="viridis")
        self.heatmap = bq.HeatMap(
            x=diagram.sigma_w2,
            y=diagram.sigma_b2,
            color=display_values(diagram, field),
            scales={"x": self.x_scale, "y": self.y_scale, "color": self.color_scale},
            null_color="#bbbbbb",
        )
        self.critical = bq.Lines(
            x=[],
            y=[],
            scales={"x": self.x_scale, "y": self.y_scale},
            colors=["white"],
            stroke_width=3,
        )
        # Round colour-bar ticks: bqplot's own label every half unit and
        # overprint. The title names the white line, so no legend covers the map.
        self.color_axis = bq.ColorAxis(
            scale=self.color_scale, side="right", tick_format=".3~g"
        )
        self.figure = bq.Figure(
            marks=[self.heatmap, self.critical],
            axes=[
                bq.Axis(scale=self.x_scale, label="σw²"),
                bq.Axis(scale=self.y_scale, side="left", label="σb²"),
                self.color_axis,
            ],
            layout=w.Layout(width="560px", height="440px"),
            fig_margin={"top": 50, "bottom": 50, "left": 60, "right": 80},
        )
        self.field = w.Dropdown(
            options=[(FIELD_DISPLAY[f][0], f) for f in DIAGRAM_FIELDS],
            value=field,
            description="show",
        )
        self.activation = w.Dropdown(
            options=["ReLU", "Erf", "Tanh"],
            value=diagram.activation
            if diagram.activation in ("ReLU", "Erf", "Tanh")
            else "Erf",
            description="φ",
        )
        self.depth = w.IntSlider(
            value=diagram.depth,
            min=1,
            max=200,
            description="depth L",
            continuous_update=False,
        )
        self.info = w.HTML()
        self.field.observe(lambda _: self._draw(), names="value")
        self.activation.observe(lambda _: self._recompute(), names="value")
        self.depth.observe(lambda _: self._recompute(), names="value")
        super().__init__(
            [w.HBox([self.field, self.activation, self.depth]), self.figure, self.info]
        )
        self._draw()

    def _recompute(self) -> None:
        self.info.value = "computing…"
        self.show(
            self.compute(
                self.activation.value.lower(),
                self.diagram.sigma_w2,
                self.diagram.sigma_b2,
                depth=int(self.depth.value),
                n_points=self.diagram.n_points,
                c_in=self.diagram.c_in,
            )
        )

    def show(self, diagram: OrderChaosDiagram) -> None:
        """Draw another diagram (same or different grid)."""
        self.diagram = diagram
        self._draw()

    def _draw(self) -> None:
        d = self.diagram
        field = self.field.value
        ok = np.isfinite(d.critical_sigma_w2)
        colour = display_values(d, field)
        with self.heatmap.hold_sync():
            self.heatmap.x, self.heatmap.y = d.sigma_w2, d.sigma_b2
            self.heatmap.color = colour
        shown = colour[np.isfinite(colour)]
        if shown.size:
            self.color_axis.tick_values = nice_ticks(
                float(shown.min()), float(shown.max()), COLOUR_TICKS
            )
        with self.critical.hold_sync():
            self.critical.x, self.critical.y = (
                d.critical_sigma_w2[ok],
                d.critical_sigma_b2[ok],
            )
        self.figure.title = f"{d.activation}: {FIELD_DISPLAY[field][0]} (depth {d.depth}; white: χ1 = 1)"
        line = d.critical_sigma_w2[ok]
        if not line.size:
            where = "outside this grid"
        elif np.ptp(line) < 5e-4:  # e.g. ReLU: χ1 = σw²/2 whatever σb²
            where = f"σw² = {line.mean():.3f} at every σb² shown"
        else:
            where = f"σw² from {line.min():.3f} to {line.max():.3f}"
        self.info.value = (
            f"Edge of chaos (χ1 = 1): {where}. Grey: no finite fixed point / undefined."
        )
