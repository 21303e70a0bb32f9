"""Vertical axes whose labels clear their tick labels.

bqplot puts a vertical axis's rotated label a fixed distance from the axis
line, whatever the width of the tick labels, so wide ones ("5.0e-2", "100%",
"0.050") run into it. The widgets know their tick formats, so each says how
many characters its widest tick label has and gets the label offset and the
left figure margin that leave room for them.
"""

from __future__ import annotations

import math
from typing import Any

import bqplot as bq
import numpy as np

# One character of bqplot's tick labels (11 px sans-serif digits: "0.050" is
# 28 px wide in Chromium), rounded up.
TICK_CHAR_PX = 6
# From the axis line to the tick labels' right edge (tick and padding), plus
# half the rotated label's line height and a gap: what the offset adds to the
# text width.
LABEL_CLEARANCE_PX = 14
# From the rotated label's centre line to the figure's left edge: half its
# line height and a few pixels of air.
MARGIN_BEYOND_LABEL_PX = 12


def label_offset_px(tick_chars: int) -> int:
    """Distance from the axis line to the label's centre line, in pixels."""
    return TICK_CHAR_PX * tick_chars + LABEL_CLEARANCE_PX


def left_margin(tick_chars: int) -> int:
    """Left figure margin that holds tick labels of ``tick_chars`` and the label."""
    return label_offset_px(tick_chars) + MARGIN_BEYOND_LABEL_PX


def figure_margin(tick_chars: int) -> dict[str, int]:
    """A bqplot ``fig_margin`` whose left side holds a y axis of ``tick_chars``-wide ticks."""
    return {"top": 50, "bottom": 50, "left": left_margin(tick_chars), "right": 20}


def y_axis(scale: bq.Scale, label: str, tick_chars: int, **traits: Any) -> bq.Axis:
    """A left axis labelled ``label``, its widest tick label ``tick_chars`` long.

    ``traits`` go to ``bq.Axis`` (``tick_format``, ``tick_values``, ...).
    """
    return bq.Axis(
        scale=scale,
        side="left",  # bqplot's `orientation=` keyword warns; `side` implies it
        label=label,
        label_offset=f"{label_offset_px(tick_chars)}px",
        **traits,
    )


#: At most this many labels on a linear axis from :func:`nice_ticks`.
MAX_LINEAR_TICKS = 7


def nice_ticks(lo: float, hi: float, max_ticks: int = MAX_LINEAR_TICKS) -> np.ndarray:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) in ``[lo, hi]``.

    bqplot's linear axes label every 10 or 20 units of a short range, and in a
    440 px figure the labels overprint; ``num_ticks`` divides the range evenly
    into unround values. This keeps at most ``max_ticks`` round ones.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo]) if math.isfinite(lo) else np.empty(0)
    raw = (hi - lo) / max(max_ticks - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-9, step)
    # Round away binary noise so ".0%" and "d" formats print what they should.
    return np.round(ticks, 12)
