"""Tests of ``nkwidgets/widgets/_power_law_plot.py``.

The fitted slopes are checked against exact power laws (to 1e-9) and against
``fit_power_law`` called directly; the figure against what it must show.
"""

from __future__ import annotations

import numpy as np
import pytest

from nkwidgets.convergence import fit_power_law
from nkwidgets.errors import InputError
from nkwidgets.widgets import PowerLawPlot
from nkwidgets.widgets._log_ticks import js_number_text

WIDTHS = np.array([64.0, 256.0, 1024.0])


def test_fits_each_series_and_says_so_above_the_figure():
    noisy = 0.3 * WIDTHS**-0.5 * np.array([1.05, 0.97, 1.02])
    stderr = 0.02 * noisy
    plot = PowerLawPlot(
        WIDTHS,
        {"exact": (2 * WIDTHS**-1.0, None), "noisy": (noisy, stderr)},
        title="gap vs width",
        y_label="gap",
        labels={"exact": "real vs linearised"},
    )
    assert plot.fits["exact"].slope == pytest.approx(-1.0, abs=1e-9)
    expected = fit_power_law(WIDTHS, noisy, stderr)
    assert plot.fits["noisy"].slope == pytest.approx(expected.slope, rel=1e-12)
    assert plot.children == (plot.legend, plot.figure)
    assert "real vs linearised: slope -1.00" in plot.legend.value
    assert f"noisy: slope {expected.slope:.2f} ± {expected.slope_stderr:.2f}" in (
        plot.legend.value
    )
    assert not any(getattr(m, "display_legend", False) for m in plot.figure.marks)
    # Points, error bars and the dashed fit per series, in the series' colour.
    points, bars, fit = plot.figure.marks[3:6]
    np.testing.assert_allclose(points.y, noisy)
    np.testing.assert_allclose(bars.y[:, 1] - bars.y[:, 0], 2 * stderr)
    assert fit.line_style == "dashed" and fit.colors == points.colors == ["#D55E00"]
    x_axis, y_axis = plot.figure.axes
    np.testing.assert_array_equal(x_axis.tick_values, WIDTHS)
    assert set(y_axis.tick_labels) == {js_number_text(t) for t in y_axis.tick_values}


def test_bad_input_names_the_series_and_the_fix():
    with pytest.raises(InputError, match="series\\['a'\\] values.*one value per x"):
        PowerLawPlot(WIDTHS, {"a": ([1.0, 2.0], None)})
    with pytest.raises(InputError, match="`series` is empty"):
        PowerLawPlot(WIDTHS, {})
