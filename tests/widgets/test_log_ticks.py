"""Labels of log axes (nkwidgets/widgets/_log_ticks.py).

bqplot finds a tick's label by the tick value's JavaScript text, so
``js_number_text`` is checked against Node's own ``String(x)``.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import bqplot as bq
import numpy as np
import pytest

from nkwidgets.widgets._log_ticks import (
    js_number_text,
    log_axis_ticks,
    log_tick_labels,
    set_log_ticks,
)

VALUES = [
    1.0, 10.0, 1e4, 1e20, 1e21, 1e22, 123456789012.0, 0.5, 0.05, 5 * 10.0**-2,
    2e-5, 1e-6, 1e-7, 1.5e-7, 3.25e-12, 0.1 + 0.2, 1 / 3, -0.004, 2.5e300, 7e-300,
    0.0, -0.0,
]  # fmt: skip


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_js_number_text_is_what_javascript_prints():
    script = (
        "process.stdout.write(JSON.stringify(JSON.parse(process.argv[1]).map(String)))"
    )
    printed = subprocess.run(
        ["node", "-e", script, json.dumps(VALUES)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [js_number_text(v) for v in VALUES] == json.loads(printed)


def test_decimals_between_a_thousandth_and_ten_thousand():
    assert log_tick_labels([0.02, 0.05, 0.1, 0.2]) == {
        "0.02": "0.02",
        "0.05": "0.05",
        "0.1": "0.1",
        "0.2": "0.2",
    }
    assert list(log_tick_labels([1.0, 10.0, 100.0, 1000.0]).values()) == [
        "1",
        "10",
        "100",
        "1000",
    ]


def test_powers_of_ten_elsewhere_with_superscripts_and_mantissas():
    labels = log_axis_ticks(np.array([1.0, 2e4]))["tick_labels"]
    assert list(labels.values()) == ["10⁰", "10¹", "10²", "10³", "10⁴"]
    assert log_tick_labels([2e-5, 5e-5, 1e-4]) == {
        "0.00002": "2·10⁻⁵",
        "0.00005": "5·10⁻⁵",
        "0.0001": "10⁻⁴",
    }
    assert log_tick_labels([1e-7, 1e21])["1e-7"] == "10⁻⁷"


def test_every_tick_of_an_axis_has_its_label():
    axis = bq.Axis(scale=bq.LogScale())
    set_log_ticks(axis, np.array([3e-6, 0.4, np.nan, 0.0]))
    assert len(axis.tick_values) >= 2
    assert set(axis.tick_labels) == {js_number_text(t) for t in axis.tick_values}
    assert all(
        label.startswith(("10", "2·", "5·")) for label in axis.tick_labels.values()
    )
