"""Memory estimates and budgets (nkwidgets/compute/_memory.py)."""

from __future__ import annotations

import pytest

from nkwidgets import stax
from nkwidgets.compute import Experiment, MemoryBudgetError, parse_budget
from nkwidgets.compute._memory import format_bytes, host_available_bytes
from nkwidgets.data import digits


@pytest.mark.parametrize(
    "text,value",
    [
        (123, 123),
        ("8GB", 8 * 10**9),
        ("8 gb", 8 * 10**9),
        ("512MB", 512 * 10**6),
        ("1.5GiB", int(1.5 * 2**30)),
        ("100000", 100000),
        ("50%", 0.5),
        (0.25, 0.25),
        (None, None),
    ],
)
def test_parse_budget(text, value):
    assert parse_budget(text) == value


@pytest.mark.parametrize("text", ["8 parsecs", "-1GB", "0", "150%", True, 1.5])
def test_bad_budget_says_which_forms_work(text):
    with pytest.raises(ValueError, match="budget"):
        parse_budget(text)


def test_format_and_available():
    assert format_bytes(1_234_567) == "1.2 MB"
    assert host_available_bytes() > 10**6


def test_over_budget_refused_before_any_block_with_a_fitting_block_size():
    net = stax.serial(stax.Dense(64), stax.Relu(), stax.Dense(10))
    ds = digits(train=400, test=100)
    # Result arrays: 2 kernels x (400*400 + 100*400) x 4 B = 1.6 MB; one
    # 400 x 400 block on each of 4 devices needs several MB of temporaries.
    exp = Experiment(net, ds, block_size=400, predict=None, budget="3MB")
    events = []
    job = exp.job()
    job.subscribe(events.append)
    with pytest.raises(MemoryBudgetError) as info:
        job.run_here()
    assert [e.kind for e in events] == ["failed"]  # nothing started, no block ran
    error = info.value
    message = str(error)
    assert error.estimate > error.budget == 3_000_000
    assert format_bytes(error.estimate) in message and "3.0 MB" in message
    assert error.fitting_block_size is not None
    assert f"block_size = {error.fitting_block_size}" in message
    # The suggestion really fits: the same budget now runs.
    exp.block_size = error.fitting_block_size
    result = exp.job().run_here()
    assert result.blocks["computed"] == len(exp.blocks())


def test_estimate_reports_the_plan_without_checking():
    net = stax.serial(stax.Dense(64), stax.Relu(), stax.Dense(10))
    exp = Experiment(
        net, digits(train=100, test=40), block_size=30, predict=None, budget="1kB"
    )
    plan = exp.estimate()
    assert plan.blocks == len(exp.blocks()) and plan.devices == 4
    assert not plan.fits and plan.memory.block_bytes > 0 and plan.seconds_per_wave > 0
    assert "OVER BUDGET" in plan.format()
