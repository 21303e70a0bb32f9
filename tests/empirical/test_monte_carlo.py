"""Monte Carlo kernels (``nkwidgets/_empirical/_monte_carlo.py``, public ``nkwidgets.monte_carlo``).

The gold standard of the suite: the Monte Carlo estimate of a wide ``stax``
network agrees with its closed-form ``kernel_fn`` within ``MC_SIGMAS`` of our
own reported standard error plus the finite-width bias allowance, both from
``tests/_tolerances.py`` (``tests/_monte_carlo.assert_mc_close``). The other
tests check Neural Tangents' calling conventions and that streaming, blocking
and host storage do not change the numbers (round-off only: 1e-12 in
float64, as they sum the same samples in the same order).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.monte_carlo import MonteCarloEstimate, monte_carlo_kernel_fn

from .._monte_carlo import Estimate, assert_mc_close

SAME = 1e-12


def _net(width: int = 1024):
    return stax.serial(
        stax.Dense(width, W_std=1.5, b_std=0.05),
        stax.Relu(),
        stax.Dense(4, W_std=1.5, b_std=0.05),
    )


def test_estimate_matches_the_closed_form_kernel(x64):
    init_fn, apply_fn, kernel_fn = _net()
    x1 = jax.random.normal(jax.random.PRNGKey(0), (4, 3))
    x2 = jax.random.normal(jax.random.PRNGKey(1), (3, 3))
    mc = monte_carlo_kernel_fn(
        init_fn, apply_fn, jax.random.PRNGKey(2), 16, vmap_axes=0
    )
    est = mc.estimate(x1, x2, ("nngp", "ntk"))
    assert est.n_samples == 16
    for get in ("nngp", "ntk"):
        mean, stderr = (
            np.asarray(getattr(est.mean, get)),
            np.asarray(getattr(est.stderr, get)),
        )
        assert mean.shape == (4, 3) and np.all(stderr > 0)
        assert_mc_close(Estimate(mean, stderr), kernel_fn(x1, x2, get), get)


def test_stream_and_neural_tangents_conventions(x64):
    """Running estimates, NT's generator form and key schedule, on one sampler."""
    init_fn, apply_fn, _ = _net(32)
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 3))
    key = jax.random.PRNGKey(4)
    mc = monte_carlo_kernel_fn(init_fn, apply_fn, key, [1, 5])
    get = ("nngp", "ntk")
    steps = list(mc.stream(x, None, get, step=2))
    assert [s.n_samples for s in steps] == [2, 4, 5]
    assert all(isinstance(s, MonteCarloEstimate) for s in steps)
    assert (
        type(steps[-1].mean).__name__ == "MonteCarloKernel"
        and steps[-1].mean._fields == get
    )
    final = mc.estimate(x, None, get)
    np.testing.assert_allclose(steps[-1].mean.ntk, final.mean.ntk, rtol=SAME)
    np.testing.assert_allclose(steps[-1].stderr.nngp, final.stderr.nngp, rtol=SAME)
    # NT's generator form yields at each requested count.
    estimates = list(mc(x, None, get))
    assert len(estimates) == 2
    np.testing.assert_allclose(estimates[1].ntk, final.mean.ntk, rtol=SAME)
    # Sample n uses the n-th split of `key`, as in Neural Tangents; one sample
    # has no standard error yet.
    _, k1 = jax.random.split(key)
    init_key, _ = jax.random.split(k1)
    _, params = init_fn(init_key, x.shape)
    out = apply_fn(params, x)
    np.testing.assert_allclose(
        estimates[0].nngp, out @ out.T / out.shape[-1], rtol=SAME
    )
    first = next(mc.stream(x, None, get))
    assert first.n_samples == 1 and np.isnan(np.asarray(first.stderr.ntk)).all()
    # An int `n_samples` returns the estimate itself; a string `get` an array.
    single = monte_carlo_kernel_fn(init_fn, apply_fn, key, 5)(x, None, "ntk")
    np.testing.assert_allclose(single, final.mean.ntk, rtol=SAME)


def test_blocks_and_host_storage_do_not_change_the_estimate(x64):
    init_fn, apply_fn, _ = _net(32)
    x1 = jax.random.normal(jax.random.PRNGKey(0), (6, 3))
    x2 = jax.random.normal(jax.random.PRNGKey(1), (3, 3))
    key = jax.random.PRNGKey(5)
    # One device: each extra device would compile the block function again.
    whole = monte_carlo_kernel_fn(init_fn, apply_fn, key, 2, trace_axes=())
    blocked = monte_carlo_kernel_fn(
        init_fn,
        apply_fn,
        key,
        2,
        batch_size=2,
        device_count=1,
        store_on_device=False,
        trace_axes=(),
    )
    # x2=None exercises both kinds of block: (x1_i, x1_j) and (x1_i, None).
    a = whole.estimate(x1, None, "ntk")
    b = blocked.estimate(x1, None, "ntk")
    assert isinstance(b.mean, np.ndarray) and b.mean.dtype == np.float64
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.stderr, a.stderr, rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match="batch_size=4"):  # 4 does not divide 6
        monte_carlo_kernel_fn(init_fn, apply_fn, key, 2, batch_size=4)(x1, x2, "nngp")


def test_rng_reaches_apply_fns_that_take_it_only(x64):
    key = jax.random.PRNGKey(0)

    def init_fn(k, shape):
        return shape[:-1] + (2,), {"w": jax.random.normal(k, (shape[-1], 2))}

    def plain(p, x):
        return x @ p["w"]

    def noisy(p, x, rng=None):
        return (x @ p["w"]) * jax.random.bernoulli(rng, 0.5, (x.shape[0], 2))

    x = jnp.ones((3, 2))
    assert monte_carlo_kernel_fn(init_fn, plain, key, 2)(x, None, "nngp").shape == (
        3,
        3,
    )
    assert monte_carlo_kernel_fn(init_fn, noisy, key, 2)(x, None, "nngp").shape == (
        3,
        3,
    )


def test_bad_n_samples_are_named():
    init_fn, apply_fn, _ = _net(8)
    with pytest.raises(ValueError, match="n_samples"):
        monte_carlo_kernel_fn(init_fn, apply_fn, jax.random.PRNGKey(0), 0)
    with pytest.raises(TypeError, match="n_samples"):
        monte_carlo_kernel_fn(init_fn, apply_fn, jax.random.PRNGKey(0), 2.5)
