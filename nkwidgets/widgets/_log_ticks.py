"""Tick values and labels for log axes that stay readable in a 440 px figure.

bqplot's log scale labels 1, 2, 5 (or every digit) of each decade; over more
than a couple of decades the labels overprint each other into one unreadable
row. Wide ranges get powers of ten, thinned to ``max_ticks``; narrow ones keep
1-2-5 steps so they still carry a few labels.

Labels are written as a paper would: plain decimals between 0.001 and 1000
("0.05", "200"), otherwise powers of ten ("10⁻³", "2·10⁻⁵"), not d3's "1e+0".
bqplot looks a label up by the tick value's JavaScript text, which
:func:`js_number_text` reproduces.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np

#: The widest labels these ticks get: "2·10⁻⁵" (superscripts are narrow) or "0.005".
LOG_TICK_CHARS = 5
#: Ticks all inside [DECIMAL_LOW, DECIMAL_HIGH) are labelled as decimals.
DECIMAL_LOW, DECIMAL_HIGH = 1e-3, 1e4
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")

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


def js_number_text(x: float) -> str:
    """``String(x)`` in JavaScript: the key bqplot's ``tick_labels`` is read by.

    Both languages print the shortest digits that round-trip; only the layout
    differs (ECMAScript's Number::toString: positional from 1e-6 up to 1e21).
    """
    if x == 0:
        return "0"  # -0 too
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    sign = "-" if x < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(float(x)))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exponent)  # x = 0.d1d2...dk * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
    return sign + text


def log_tick_label(value: float, decimal: bool) -> str:
    """``value`` as a decimal ("0.05") or as a power of ten ("10⁻³", "2·10⁻⁵")."""
    if decimal:
        return np.format_float_positional(value, trim="-")
    e = math.floor(math.log10(value) + 1e-9)
    mantissa = np.format_float_positional(value / 10.0**e, precision=3, trim="-")
    power = "10" + str(e).translate(_SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa}·{power}"


def log_tick_labels(ticks: list[float]) -> dict[str, str]:
    """bqplot ``tick_labels`` for ``ticks`` (all decimals, or all powers of ten)."""
    decimal = all(DECIMAL_LOW <= t < DECIMAL_HIGH for t in ticks)
    return {js_number_text(t): log_tick_label(t, decimal) for t in ticks}


def log_axis_ticks(values: Any, max_ticks: int = MAX_LOG_TICKS) -> dict[str, Any]:
    """``tick_values`` and ``tick_labels`` for a bqplot log axis showing ``values``.

    At most ``max_ticks`` ticks inside the positive finite values' range,
    labelled "0.05" or "10⁻³" as a paper would; non-positive and non-finite
    values are ignored.

    Examples:
      >>> import numpy as np
      >>> log_axis_ticks(np.array([0.03, 0.4]))["tick_labels"]
      {'0.05': '0.05', '0.1': '0.1', '0.2': '0.2'}
      >>> # bq.Axis(scale=bq.LogScale(), side="left", **log_axis_ticks(errors))
    """
    ticks = log_ticks(values, max_ticks)
    return {"tick_values": ticks, "tick_labels": log_tick_labels(ticks)}


def set_log_ticks(axis: Any, values: Any, max_ticks: int = MAX_LOG_TICKS) -> None:
    """Give a log ``axis`` the ticks and labels of ``values``, in one message."""
    with axis.hold_sync():
        for name, value in log_axis_ticks(values, max_ticks).items():
            setattr(axis, name, value)
