"""Shared figure pieces: round linear ticks, y-axis label room, HTML legends."""

from __future__ import annotations

import bqplot as bq
import numpy as np
import pytest

from nkwidgets.widgets._axes import figure_margin, nice_ticks, y_axis
from nkwidgets.widgets._legend import legend_row


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (0, 300, [0, 50, 100, 150, 200, 250, 300]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (3, 7, [3, 4, 5, 6, 7]),
        (-0.35, 0.9, [-0.25, 0, 0.25, 0.5, 0.75]),
        (0, 1e-3, [0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3]),
    ],
)
def test_nice_ticks_are_round_and_inside_the_range(lo, hi, expected):
    ticks = nice_ticks(lo, hi)
    np.testing.assert_allclose(ticks, expected, atol=1e-15)
    assert ticks.size <= 7 and lo <= ticks.min() and ticks.max() <= hi


def test_nice_ticks_of_an_empty_range():
    np.testing.assert_array_equal(nice_ticks(5.0, 5.0), [5.0])
    assert nice_ticks(float("nan"), 1.0).size == 0


def test_y_axis_label_clears_wider_tick_labels_and_the_margin_holds_it():
    narrow, wide = y_axis(bq.LinearScale(), "a", 3), y_axis(bq.LinearScale(), "a", 6)
    offsets = [int(a.label_offset.removesuffix("px")) for a in (narrow, wide)]
    assert offsets[0] < offsets[1] and narrow.side == "left"
    # The label (its centre line at the offset, half a line either side) sits
    # inside the figure's margin.
    assert figure_margin(6)["left"] >= offsets[1] + 8


def test_legend_row_has_a_swatch_per_entry_and_escapes_labels():
    html = legend_row(
        [("solid", "#000", "a < b"), ("dot", "#111", "c"), ("diamond", "#222", "d")]
    )
    assert html.count("<span") == 3
    assert (
        "a &lt; b" in html and "border-radius:50%" in html and "rotate(45deg)" in html
    )
