"""Tests of ``nkwidgets/widgets/_spectrum_plot.py`` and ``_parameterization_plot.py``."""

from __future__ import annotations

import numpy as np
import pytest

from nkwidgets.errors import InputError
from nkwidgets.parameterization import ParameterizationComparison
from nkwidgets.spectrum import LearningCurve, fit_power_law
from nkwidgets.widgets import ParameterizationPlot, SpectrumPlot


def test_spectrum_plot_fits_the_chosen_range_and_refits_on_the_slider():
    k = np.arange(1, 201, dtype=float)
    # A power law k^-2 up to rank 50, then a steeper tail: the range matters.
    values = np.where(k <= 50, k**-2.0, 50.0**-2 * (k / 50) ** -4.0)
    plot = SpectrumPlot({"nngp": values, "ntk": 2 * values}, fit_range=(1, 50))
    assert plot.fits["nngp"].exponent == pytest.approx(2.0)
    assert plot.fits["ntk"].amplitude == pytest.approx(2.0)
    assert "NTK: α = 2.00" in plot.legend.value
    plot.range_slider.value = (60, 200)
    assert plot.fits["nngp"].exponent == pytest.approx(4.0)
    assert "NNGP: α = 4.00" in plot.legend.value
    np.testing.assert_allclose(
        plot.fit_lines["nngp"].y, fit_power_law(values, x_min=60, x_max=200)([60, 200])
    )
    assert plot.spectrum_fig.marks[0].colors == ["#E69F00"]
    # Readable log axes: ranks 1..200 (2.3 decades) at 1-2-5 steps; eigenvalues
    # (over 8 decades) at powers of ten inside both kernels' range.
    x_axis, y_axis = plot.spectrum_fig.axes
    np.testing.assert_allclose(x_axis.tick_values, [1, 2, 5, 10, 20, 50, 100, 200])
    assert all(np.log10(t).is_integer() for t in y_axis.tick_values)
    assert min(y_axis.tick_values) >= values.min() and max(y_axis.tick_values) <= 2.0


def test_negative_tail_is_off_the_log_axis_and_a_bad_range_says_so():
    values = np.array([1.0, 0.25, 0.1, -1e-9])
    plot = SpectrumPlot({"ntk": values}, fit_range=(1, 3))
    assert len(plot.points["ntk"].y) == 3
    plot.range_slider.value = (1, 4)
    assert "x_max" in plot.fit_text.value
    with pytest.raises(InputError, match="fit_range"):
        SpectrumPlot({"ntk": values}, fit_range=(3, 9))


def test_learning_curves_beside_the_spectrum():
    sizes = np.array([10, 20, 40])
    curve = LearningCurve(
        sizes=sizes,
        test_mse={"nngp": sizes**-0.5, "ntk": sizes**-0.7},
        test_mse_std={"nngp": 0 * sizes, "ntk": 0 * sizes},
        test_accuracy=None,
        fits={
            "nngp": fit_power_law(sizes**-0.5, sizes),
            "ntk": fit_power_law(sizes**-0.7, sizes),
        },
    )
    plot = SpectrumPlot({"ntk": np.arange(1, 11.0) ** -1}, learning_curve=curve)
    # One legend above both figures; NNGP has a learning curve but no spectrum.
    assert not any(m.display_legend for m in plot.curve_fig.marks)
    assert "NNGP: α_D = 0.50" in plot.legend.value
    assert "NTK: α = 1.00, α_D = 0.70" in plot.legend.value
    assert plot.colours["nngp"] == "#E69F00"


def _comparison() -> ParameterizationComparison:
    two = {"ntk": np.array([0.3, 0.15]), "standard": np.array([0.31, 0.16])}
    return ParameterizationComparison(
        widths=np.array([16, 64]),
        ntk_distance=two,
        ntk_scale={"ntk": np.array([7.0, 7.0]), "standard": np.array([100.0, 400.0])},
        learning_rate={"ntk": np.array([10.0, 10.0]), "standard": np.array([0.4, 0.1])},
        finite_accuracy=two,
        finite_accuracy_std=two,
        kernel_accuracy=two,
        nngp_accuracy=0.9,
        nngp_max_difference=0.0,
        steps=10,
        lr_fraction=0.5,
    )


def test_parameterization_plot_draws_every_series():
    c = _comparison()
    widths = c.widths
    plot = ParameterizationPlot(c)
    np.testing.assert_array_equal(plot.lr_fig.marks[1].y, [0.4, 0.1])
    assert len(plot.accuracy_fig.marks) == 5  # finite + kernel per param., NNGP
    assert plot.accuracy_fig.marks[-1].y.tolist() == [0.9, 0.9]
    # Width axes labelled at the widths; a log y axis only inside its data.
    np.testing.assert_array_equal(plot.lr_fig.axes[0].tick_values, widths)
    lr_ticks = np.asarray(plot.lr_fig.axes[1].tick_values)
    assert lr_ticks.size >= 2 and 0.1 <= lr_ticks.min() and lr_ticks.max() <= 10.0


def test_parameterization_plot_has_one_legend_above_its_panels():
    plot = ParameterizationPlot(_comparison())
    assert plot.children[0] is plot.legend
    for words in ("NTK param.", "standard param.", "infinite width", "NNGP"):
        assert words in plot.legend.value
    figures = (plot.distance_fig, plot.lr_fig, plot.accuracy_fig)
    assert not any(m.display_legend for f in figures for m in f.marks)
    assert "identical at every width" in plot.children[-1].value
