"""Tick values for log axes that stay readable in a 440 px figure.

bqplot's log scale labels 1, 2, 5 (or every digit) of each decade; over more
than a couple of decades the labels overprint each other into one unreadable
row. Wide ranges get powers of ten, thinned to ``max_ticks``; narrow ones keep
1-2-5 steps so they still carry a few labels.
"""

from __future__ import annotations

import math

import numpy as np

#: At most this many labels on a log axis.
MAX_LOG_TICKS = 8
#: Ranges of at least this many decades are labelled at powers of ten only.
DECADES_FOR_POWERS = 2.5


def log_ticks(values: np.ndarray, max_ticks: int = MAX_LOG_TICKS) -> list[float]:
    """Tick values inside the range of the positive finite ``values``."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return []
    lo, hi = float(v.min()), float(v.max())
    # Ticks outside the data's range would be drawn beyond the axis ends.
    inside = [lo * (1 - 1e-9), hi * (1 + 1e-9)]
    e_lo, e_hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if math.log10(hi / lo) >= DECADES_FOR_POWERS:
        powers = [10.0**e for e in range(e_lo, e_hi + 1)]
        powers = [p for p in powers if inside[0] <= p <= inside[1]]
        step = max(1, math.ceil(len(powers) / max_ticks))
        return powers[::step]
    for mantissas in ((1, 2, 5), tuple(range(1, 10))):
        ticks = [
            m * 10.0**e
            for e in range(e_lo, e_hi + 1)
            for m in mantissas
            if inside[0] <= m * 10.0**e <= inside[1]
        ]
        if len(ticks) >= 2:
            break
    step = max(1, math.ceil(len(ticks) / max_ticks))
    return ticks[::step]
