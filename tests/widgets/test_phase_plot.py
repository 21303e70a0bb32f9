"""Tests of ``nkwidgets/widgets/_phase_plot.py`` (PhasePlot draws events) and ``_order_chaos_plot.py`` (OrderChaosPlot draws diagrams).

No training runs here: recorded runs are built by hand and fed as Job events.
"""

from __future__ import annotations

import numpy as np
import pytest

from nkwidgets.compute import Event
from nkwidgets.phase import (
    PhaseRun,
    PhaseSweep,
    Thresholds,
    critical_learning_rates,
    order_chaos_diagram,
    phase_boundaries,
)
from nkwidgets.widgets import OrderChaosPlot, PhasePlot

GRID = [0.5, 1.5, 2.5, 3.0, 8.0]
PHASES = ["lazy", "lazy", "catapult", "catapult", "divergent"]


def _run(label: str, index: int, lambda0: float = 0.3) -> PhaseRun:
    eta, phase = GRID[index], PHASES[index]
    steps = np.arange(11.0)
    if phase == "lazy":
        loss, lam = 5.0 * np.exp(-eta * steps), np.full(3, lambda0 * 0.99)
    elif phase == "catapult":
        loss = np.concatenate([[5.0, 50.0, 500.0], 1e-2 * np.ones(8)])
        lam = lambda0 * np.array([1.0, 0.6, 0.5 - 0.1 * index])
    else:
        loss = np.concatenate([[5.0, 1e3, 1e8], np.full(8, np.nan)])
        lam = np.array([lambda0, np.nan, np.nan])
    lam[0] = lambda0
    return PhaseRun(
        label=label,
        index=index,
        eta_lambda0=eta,
        learning_rate=eta / lambda0,
        lambda0=lambda0,
        loss=loss,
        lambda_steps=np.array([0, 5, 10]),
        lambdas=lam,
        phase=phase,
        diverged_at=2 if phase == "divergent" else None,
    )


def _sweep(label: str) -> PhaseSweep:
    runs = tuple(_run(label, i) for i in range(len(GRID)))
    lazy_end, divergence = phase_boundaries(GRID, PHASES)
    return PhaseSweep(
        label,
        critical_learning_rates(0.3),
        np.array(GRID),
        runs,
        lazy_end,
        divergence,
        Thresholds(),
        10,
        1.0,
    )


def test_runs_stream_into_the_scatter_marks():
    plot = PhasePlot()
    plot.on_event(
        Event(
            "started",
            {"labels": ["width 512"], "eta_lambda0": np.array(GRID), "total": 50},
        )
    )
    plot.on_event(
        Event("lambda0", {"label": "width 512", "rates": critical_learning_rates(0.3)})
    )
    assert "λ0 = 0.3" in plot.status.value
    for i in (4, 0, 2):  # out of order, as batches may finish
        plot.on_event(Event("run_done", {"run": _run("width 512", i)}))
    marks = plot._marks["width 512"]
    np.testing.assert_allclose(marks["loss"].x, [0.5, 2.5])
    np.testing.assert_allclose(marks["loss"].y, [_run("w", 0).final_loss, 1e-2])
    np.testing.assert_allclose(marks["ratio"].y, [0.99, 0.3 / 0.3 * (0.5 - 0.2)])
    np.testing.assert_allclose(marks["loss_div"].x, [8.0])
    # Theory line at eta * lambda0 = 2 in both panels.
    assert all(list(line.x) == [2.0, 2.0] for line in plot.theory_lines)


def test_sweep_done_shades_phases_and_marks_divergence():
    plot = PhasePlot.from_sweeps([_sweep("width 512"), _sweep("width 2048")])
    lazy_end, divergence = np.sqrt(1.5 * 2.5), np.sqrt(3.0 * 8.0)
    for label in ("width 512", "width 2048"):
        assert list(plot._marks[label]["divergence"][0].x) == pytest.approx(
            [divergence] * 2
        )
    band = plot.bands["catapult"]
    assert min(band.x) == pytest.approx(lazy_end) and max(band.x) == pytest.approx(
        divergence
    )
    assert min(plot.bands["lazy"].x) < 0.5 and max(plot.bands["divergent"].x) > 8.0
    # A band is its fill: bqplot's `opacities` applies to the fill as well, and
    # at 0 the bands were never seen in the tutorial's screenshot.
    for b in [*plot.bands.values(), *plot.ratio_bands.values()]:
        assert b.fill_opacities[0] > 0 and all(o > 0 for o in b.opacities)
    assert "width 2048" in plot.status.value and "theory 2" in plot.status.value
    # The legend, above the figures, names both models and all three phases.
    for name in ("width 512", "width 2048", "lazy", "catapult", "divergent"):
        assert name in plot.legend.value
    # Two models, two colours, both in each figure.
    assert plot._marks["width 512"]["colour"] != plot._marks["width 2048"]["colour"]
    assert sum(m is plot._marks["width 2048"]["loss"] for m in plot.loss_fig.marks) == 1
    # Readable log axes: labels only inside the learning-rate bands and the live
    # runs' losses (diverged runs sit on the band scale).
    for fig in (plot.loss_fig, plot.ratio_fig):
        ticks = fig.axes[0].tick_values
        assert 2 <= len(ticks) <= 8
        assert min(plot.bands["lazy"].x) <= min(ticks)
        assert max(ticks) <= max(plot.bands["divergent"].x)
    live = [
        r.final_loss
        for runs in plot.runs.values()
        for r in runs.values()
        if r.phase != "divergent"
    ]
    loss_ticks = np.asarray(plot.loss_fig.axes[1].tick_values)
    assert loss_ticks.size > 0
    assert min(live) <= loss_ticks.min() <= loss_ticks.max() <= max(live)


def test_click_and_select_show_a_runs_curves():
    plot = PhasePlot.from_sweeps({"w": _sweep("w")})
    marks = plot._marks["w"]
    # A click on the third live point (eta * lambda0 = 2.5, grid index 2).
    marks["loss"]._element_click_handlers(
        marks["loss"], {"event": "element_click", "data": {"index": 2}}
    )
    assert plot.selected is not None and plot.selected.index == 2
    np.testing.assert_allclose(plot.curves.loss_line.y, _run("w", 2).loss)
    np.testing.assert_allclose(plot.curves.ratio_line.y, [1.0, 0.6, 0.3])
    assert "catapult" in plot.curves.loss_fig.title
    # A divergent run's curve stops where it was stopped.
    marks["loss_div"]._element_click_handlers(marks["loss_div"], {"data": {"index": 0}})
    assert plot.selected.phase == "divergent"
    assert (
        len(plot.curves.loss_line.y) == 3
        and "stopped at step 2" in plot.curves.loss_fig.title
    )
    plot.select("w", 0)
    assert plot.selected.eta_lambda0 == 0.5
    with pytest.raises(KeyError, match="finished runs"):
        plot.select("w", 99)


def test_failed_job_is_shown():
    plot = PhasePlot()
    plot.on_event(Event("failed", {"error": ValueError("bad <x>")}))
    assert "bad &lt;x&gt;" in plot.status.value


def test_order_chaos_plot_draws_field_and_line():
    sw, sb = np.linspace(1.0, 3.0, 5), np.array([0.0, 0.5])
    d = order_chaos_diagram("relu", sw, sb, depth=5)
    calls = []

    def compute(activation, sigma_w2, sigma_b2, **kw):
        calls.append((activation, kw["depth"]))
        return order_chaos_diagram(activation, sigma_w2, sigma_b2, **kw)

    plot = OrderChaosPlot(d, field="chi1", compute=compute)
    np.testing.assert_allclose(plot.heatmap.color, np.tile(sw / 2, (2, 1)))
    np.testing.assert_allclose(plot.critical.x, [2.0, 2.0])
    np.testing.assert_allclose(plot.critical.y, sb)
    assert "σw² = 2.000 at every σb² shown" in plot.info.value
    # Round colour-bar ticks inside χ1's range (0.5 to 1.5), no in-plot legend.
    ticks = np.asarray(plot.color_axis.tick_values)
    assert 2 <= ticks.size <= 6 and ticks.min() >= 0.5 and ticks.max() <= 1.5
    np.testing.assert_allclose(ticks, np.round(ticks, 2))
    assert not plot.critical.display_legend
    plot.field.value = "kappa"
    np.testing.assert_allclose(
        plot.heatmap.color[np.isfinite(plot.heatmap.color)],
        np.log10(d.kappa[np.isfinite(d.kappa)]),
    )
    plot.depth.value = 7
    assert calls == [("relu", 7)] and plot.diagram.depth == 7
    plot.activation.value = "Erf"
    assert calls[-1] == ("erf", 7) and "Erf" in plot.figure.title
