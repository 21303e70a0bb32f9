"""AUTO and its time / memory model (``nkwidgets/_empirical/_auto.py``, ``_cost.py``).

Memory estimates are checked against XLA itself: for each implementation the
compiled program's buffer assignment (``memory_analysis()``: temporaries plus
outputs) must not exceed the estimate, on a network with 10 outputs and
``trace_axes=()`` (the case where Jacobians and kernels are largest relative
to the network). The estimate must also stay within ``LOOSENESS`` of XLA's
figure, or the budget check would refuse plans that fit.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import empirical as nt
from nkwidgets import stax
from nkwidgets.errors import NKError

# An estimate may exceed XLA's figure by this factor: it counts buffers XLA
# can reuse or fuse away (e.g. the cotangents of every activation at once).
LOOSENESS = 25.0


def _mlp(width: int = 64, out: int = 10):
    init_fn, apply_fn, _ = stax.serial(
        stax.Dense(width, W_std=1.5, b_std=0.1),
        stax.Relu(),
        stax.Dense(width, W_std=1.5),
        stax.Relu(),
        stax.Dense(out),
    )
    _, params = init_fn(jax.random.PRNGKey(0), (1, 8))
    x1 = jax.random.normal(jax.random.PRNGKey(1), (16, 8))
    x2 = jax.random.normal(jax.random.PRNGKey(2), (12, 8))
    return apply_fn, params, x1, x2


def _xla_bytes(fn, *args) -> int:
    stats = jax.jit(fn).lower(*args).compile().memory_analysis()
    return int(stats.temp_size_in_bytes + stats.output_size_in_bytes)


@pytest.mark.parametrize(
    ("vmap_axes", "same"), [(0, False), (None, True)], ids=["vmap-x1x2", "novmap-x1x1"]
)
def test_memory_estimates_bound_what_xla_allocates(vmap_axes, same):
    f, params, x1, x2 = _mlp()
    x2 = None if same else x2
    auto = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=vmap_axes)
    estimates = auto.estimate(x1, x2, params)
    for impl, est in estimates.items():
        fn = nt.empirical_ntk_fn(
            f, trace_axes=(), vmap_axes=vmap_axes, implementation=impl
        )
        used = _xla_bytes(lambda a, b, p, fn=fn: fn(a, b, p), x1, x2, params)
        assert used <= est.memory_bytes, (impl.name, used, est.memory_bytes)
        assert est.memory_bytes <= LOOSENESS * used, (impl.name, used, est.memory_bytes)


def test_auto_picks_structured_derivatives_for_a_wide_mlp_with_full_outputs(caplog):
    f, params, x1, x2 = _mlp(width=256)
    fn = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0)
    with caplog.at_level(logging.INFO, logger="nkwidgets.empirical"):
        fn(x1, x2, params)
    assert fn.chosen_implementation == nt.NtkImplementation.STRUCTURED_DERIVATIVES
    assert "AUTO chose STRUCTURED_DERIVATIVES" in caplog.text
    # Cached per signature: a second call neither re-estimates nor re-logs.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="nkwidgets.empirical"):
        fn(x1, x2, params)
    assert len(fn.decisions) == 1 and "AUTO chose" not in caplog.text


def test_auto_takes_the_fastest_plan_within_the_budget():
    f, params, x1, x2 = _mlp(width=32, out=3)
    probe = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0)
    estimates = probe.estimate(x1, x2, params)
    for budget in sorted({int(e.memory_bytes) for e in estimates.values()}):
        fn = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0, memory_budget=budget)
        fits = [e for e in estimates.values() if e.memory_bytes <= budget]
        expected = min(fits, key=lambda e: e.seconds).implementation
        assert fn.decide(x1, x2, params).implementation == expected


def test_auto_refuses_a_plan_over_budget_and_names_a_batch_size_that_fits():
    f, params, x1, x2 = _mlp()
    x1 = jnp.concatenate([x1] * 4)  # 64 examples
    x2 = jnp.concatenate([x2] * 4)  # 48
    estimates = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0).estimate(
        x1, x2, params
    )
    budget = int(min(e.memory_bytes for e in estimates.values()) / 3)
    fn = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0, memory_budget=budget)
    with pytest.raises(nt.MemoryBudgetError) as info:
        fn(x1, x2, params)
    err = info.value
    assert isinstance(err, NKError)
    n = err.suggested_batch_size
    assert 1 <= n < 64
    assert f"at most {n} examples" in str(err) and "memory_budget" in str(err)
    # The suggestion is honest: blocks of that size fit the same budget.
    decision = fn.decide(x1[:n], x2[:n], params)
    assert decision.estimates[decision.implementation].memory_bytes <= budget


def test_estimates_scale_as_the_paper_says():
    """Jacobian contraction pays O^2 for O outputs per example, the others O.

    Novak et al. 2022, table 1: going from 1 to 10 untraced outputs multiplies
    the contraction cost of method 1 by ~100 and of methods 2 / 3 by ~10.
    """
    one = nt.empirical_ntk_fn(_mlp(out=1)[0], trace_axes=(), vmap_axes=0)
    ten = nt.empirical_ntk_fn(_mlp(out=10)[0], trace_axes=(), vmap_axes=0)
    _, p1, x1, x2 = _mlp(out=1)
    _, p10, _, _ = _mlp(out=10)
    e1, e10 = one.estimate(x1, x2, p1), ten.estimate(x1, x2, p10)
    jc = (
        e10[nt.NtkImplementation.JACOBIAN_CONTRACTION].flops
        / e1[nt.NtkImplementation.JACOBIAN_CONTRACTION].flops
    )
    sd = (
        e10[nt.NtkImplementation.STRUCTURED_DERIVATIVES].flops
        / e1[nt.NtkImplementation.STRUCTURED_DERIVATIVES].flops
    )
    assert jc > 50 and sd < 20, (jc, sd)
    assert np.isfinite([e.seconds for e in e10.values()]).all()
