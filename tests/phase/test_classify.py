"""Tests of ``nkwidgets/_phase/_classify.py``: phases as pure functions of curves."""

from __future__ import annotations

import numpy as np
import pytest

from nkwidgets.errors import InputError
from nkwidgets.phase import Thresholds, classify_run, phase_boundaries

LAM = np.array([1.0, 0.99, 0.99])


def test_each_phase_from_its_defining_curve():
    decreasing = np.geomspace(5.0, 1e-3, 50)
    spike = np.concatenate([[5.0, 20.0, 300.0, 40.0], np.geomspace(4.0, 1e-4, 46)])
    assert classify_run(decreasing, LAM, 1.0, False) == "lazy"
    assert classify_run(spike, [1.0, 0.5, 0.4], 1.0, False) == "catapult"
    assert classify_run(spike, [1.0, 0.5, 0.4], 1.0, True) == "divergent"
    assert classify_run(np.array([5.0, np.inf]), LAM, 1.0, False) == "divergent"
    assert classify_run(np.array([1.0, 2e6]), LAM, 1.0, False) == "divergent"
    # Rose and not back below the start when the budget ran out.
    assert classify_run(np.array([5.0, 8.0, 30.0]), LAM, 1.0, False) == "unresolved"
    # A loss that never rose while the kernel moved by half is not lazy.
    assert classify_run(decreasing, [1.0, 0.5], 1.0, False) == "unresolved"


def test_thresholds_are_the_named_ones():
    wiggle = np.array([5.0, 5.2, 1.0])  # 4 % above the start
    assert classify_run(wiggle, LAM, 1.0, False) == "lazy"
    assert classify_run(wiggle, LAM, 1.0, False, Thresholds(rise=0.01)) == "catapult"
    with pytest.raises(InputError, match="divergence_factor"):
        Thresholds(divergence_factor=1.01)
    with pytest.raises(InputError, match="rise"):
        Thresholds(rise=-1.0)


def test_boundaries_straddle_the_phase_changes():
    rates = [4.0, 1.0, 2.25, 16.0, 9.0]
    phases = ["catapult", "lazy", "lazy", "divergent", "catapult"]
    lazy_end, divergence = phase_boundaries(rates, phases)
    assert lazy_end == pytest.approx(3.0)  # sqrt(2.25 * 4)
    assert divergence == pytest.approx(12.0)  # sqrt(9 * 16)
    assert np.isnan(phase_boundaries([1.0, 2.0], ["lazy", "lazy"])[0])
    assert np.isnan(phase_boundaries([1.0, 2.0], ["divergent", "divergent"])[1])
    with pytest.raises(InputError, match="same runs"):
        phase_boundaries([1.0], ["lazy", "lazy"])
