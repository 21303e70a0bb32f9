"""``block_size="auto"`` (nkwidgets/compute/_block_size.py, ``choose_block_size``).

The choice is checked against what it promises: the memory estimate of the
chosen block (cache-sized on CPU, within the budget), a quarter of the data
per side at most, the cached block size when a run resumes, and kernels equal
to those of a fixed block size (in float64, to 1e-9 relative: a different
block shape only changes the order of floating-point sums).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.compute import Experiment, MemoryBudgetError
from nkwidgets.compute._block_size import FAST_CPU_BLOCK_BYTES
from nkwidgets.compute._cache import earlier_block_sizes
from nkwidgets.compute._memory import fits
from nkwidgets.compute._runner import MIN_BLOCKS_PER_SIDE, ExperimentRunner
from nkwidgets.data import digits
from nkwidgets.errors import NKError
from nkwidgets.spec import parse

#: Kernels computed in blocks of different sizes agree to rounding. In float64:
#: in float32, ReLU's arc-cosine turns the rounding of a correlation near 1
#: into relative errors of ~sqrt(6e-8) on the diagonal, whatever the blocks.
RTOL = 1e-9


def _mlp(**kw) -> Experiment:
    net = stax.serial(
        stax.Dense(64, W_std=1.5, b_std=0.05), stax.Relu(), stax.Dense(10)
    )
    return Experiment(
        net,
        digits(train=60, test=20),
        predict=None,
        description="Dense(64)-Relu-Dense(10)",
        **{"dtype": "float64", **kw},
    )


def _cnn_gap(**kw) -> Experiment:
    # (b, b, 8, 8, 8, 8) covariances: ~140 kB a pair, so a cache-sized block
    # is much smaller than a quarter of the data.
    net = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME"),
        stax.Relu(),
        stax.GlobalAvgPool(),
        stax.Dense(10),
    )
    return Experiment(
        net,
        digits(train=100, test=20, images=True),
        predict=None,
        **{"dtype": "float64", **kw},
    )


def _assert_same_kernels(a, b) -> None:
    for name in a.kernels:
        for part in ("train_train", "test_train"):
            np.testing.assert_allclose(
                a.kernels[name][part], b.kernels[name][part], rtol=RTOL
            )


def test_auto_is_the_default_and_is_decided_once():
    exp = _mlp()
    assert exp.block_size == "auto"
    first = exp.chosen_block_size
    assert exp.chosen_block_size == first
    assert exp.blocks()[0].rows == first


def test_small_dense_blocks_are_capped_at_a_quarter_of_the_data():
    # A dense network's pair costs bytes, so the cap decides: the heatmap
    # still fills in by parts.
    exp = _mlp()
    assert exp.chosen_block_size == math.ceil(60 / MIN_BLOCKS_PER_SIDE)
    _assert_same_kernels(exp.job().run_here(), _mlp(block_size=60).job().run_here())


def test_cpu_blocks_are_cache_sized_and_compute_the_same_kernels():
    exp = _cnn_gap()
    chosen = exp.chosen_block_size
    assert chosen < math.ceil(100 / MIN_BLOCKS_PER_SIDE)
    assert ExperimentRunner(exp).memory().block_bytes <= FAST_CPU_BLOCK_BYTES
    # ...and not needlessly small: half again as large is over the line.
    bigger = ExperimentRunner(exp, int(chosen * 1.5) + 1).memory()
    assert bigger.block_bytes > FAST_CPU_BLOCK_BYTES
    _assert_same_kernels(exp.job().run_here(), _cnn_gap(block_size=25).job().run_here())


def test_a_tight_budget_shrinks_the_blocks_until_they_fit():
    budget = "12MB"
    with pytest.raises(MemoryBudgetError):
        _cnn_gap(block_size=25, budget=budget).job().run_here()
    exp = _cnn_gap(budget=budget)
    runner = ExperimentRunner(exp)
    assert fits(runner.memory(), runner.budget())
    assert exp.chosen_block_size < ExperimentRunner(_cnn_gap()).block_size
    exp.job().run_here()  # the budget check passes


def test_a_resumed_run_keeps_the_block_size_of_its_cached_blocks(tmp_path):
    first = _mlp(block_size=7, cache_dir=str(tmp_path)).job().run_here()
    again = _mlp(cache_dir=str(tmp_path))
    assert again.chosen_block_size == 7
    result = again.job().run_here()
    assert result.blocks["computed"] == 0
    assert result.blocks["reused"] == result.blocks["total"]
    _assert_same_kernels(result, first)


def test_cached_blocks_of_another_computation_are_not_taken(tmp_path):
    _mlp(block_size=7, cache_dir=str(tmp_path)).job().run_here()
    other = _mlp(cache_dir=str(tmp_path), compute=("ntk",))
    assert earlier_block_sizes(tmp_path, other.cache_facts(block_size=0)) == {}
    assert other.chosen_block_size == math.ceil(60 / MIN_BLOCKS_PER_SIDE)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "big", True])
def test_a_block_size_that_is_neither_a_size_nor_auto_is_refused(bad):
    with pytest.raises(NKError, match="positive integer .* or 'auto'"):
        _mlp(block_size=bad)


def test_spec_takes_auto_and_writes_it_back_only_when_not_the_default():
    net = "net = serial(Dense(8), Relu(), Dense(1))"
    assert parse(net).block_size == "auto"
    assert parse(net + "\nblock_size = auto").block_size == "auto"
    assert parse(net + '\nblock_size = "auto"').block_size == "auto"
    assert "block_size" not in parse(net + "\nblock_size = auto").to_text()
    assert "block_size = 30" in parse(net + "\nblock_size = 30").to_text()
    spec = parse(net + "\ndata = digits(train=20, test=5)\nblock_size = 30")
    assert spec.to_experiment().chosen_block_size == 30
    assert (
        dataclasses.replace(spec, block_size="auto").to_experiment().block_size
        == "auto"
    )


@pytest.mark.parametrize("bad", ["big", "0", "2.5"])
def test_spec_names_both_forms_of_a_bad_block_size(bad):
    with pytest.raises(NKError, match="positive integer .* or auto"):
        parse("net = serial(Dense(8), Relu())\nblock_size = " + bad)
