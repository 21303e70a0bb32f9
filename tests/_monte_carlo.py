"""Monte Carlo NNGP and NTK of finite networks, written independently of the engine.

Used only by tests: draws ``n_samples`` networks from ``init_fn``, and for each
computes the empirical NNGP ``f(x1) f(x2)^T / n_out`` and empirical NTK
``J(x1) J(x2)^T / n_out`` (summed over all parameters, averaged over output
channels). Returns the mean over networks and its standard error, from which
tests derive their tolerance.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._tolerances import MC_SIGMAS, MC_WIDTH_BIAS


class Estimate(NamedTuple):
    mean: np.ndarray  # (N1, N2)
    stderr: np.ndarray  # (N1, N2) standard error of the mean over networks


def _per_network(apply_fn, params, x1, x2, rng):
    kw = {} if rng is None else {"rng": rng}
    f1 = apply_fn(params, x1, **kw)
    f2 = apply_fn(params, x2, **kw)
    n_out = f1.shape[-1]
    nngp = f1 @ f2.T / n_out

    def flat1(p):
        return apply_fn(p, x1, **kw).reshape(-1)

    def flat2(p):
        return apply_fn(p, x2, **kw).reshape(-1)

    j1 = jax.jacrev(flat1)(params)
    j2 = jax.jacrev(flat2)(params)
    # sum over parameters of d f1[a] / d p * d f2[b] / d p
    contract = jax.tree_util.tree_map(
        lambda a, b: a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T, j1, j2
    )
    ntk_full = sum(jax.tree_util.tree_leaves(contract))
    ntk_full = ntk_full.reshape(x1.shape[0], n_out, x2.shape[0], n_out)
    ntk = jnp.einsum("icjc->ij", ntk_full) / n_out
    return nngp, ntk


def monte_carlo_kernels(
    layer, x1, x2, input_shape, n_samples, key, batch=8, stochastic=False
) -> dict[str, Estimate]:
    """Mean and standard error of the empirical NNGP and NTK over random networks."""
    init_fn, apply_fn, _ = layer

    def one(k):
        k_init, k_apply = jax.random.split(k)
        _, params = init_fn(k_init, input_shape)
        return _per_network(apply_fn, params, x1, x2, k_apply if stochastic else None)

    one = jax.jit(jax.vmap(one))
    keys = jax.random.split(key, n_samples)
    nngps, ntks = [], []
    for start in range(0, n_samples, batch):
        a, b = one(keys[start : start + batch])
        nngps.append(np.asarray(a))
        ntks.append(np.asarray(b))
    out = {}
    for name, vals in (("nngp", nngps), ("ntk", ntks)):
        v = np.concatenate(vals)
        out[name] = Estimate(v.mean(0), v.std(0, ddof=1) / np.sqrt(len(v)))
    return out


def assert_mc_close(estimate: Estimate, analytic, what: str = "") -> None:
    """|MC - analytic| <= MC_SIGMAS * stderr + MC_WIDTH_BIAS * scale, elementwise."""
    analytic = np.asarray(analytic)
    scale = np.max(np.abs(analytic))
    allowed = MC_SIGMAS * estimate.stderr + MC_WIDTH_BIAS * scale
    err = np.abs(estimate.mean - analytic)
    worst = np.unravel_index(np.argmax(err - allowed), err.shape)
    assert np.all(err <= allowed), (
        f"{what}: Monte Carlo differs from the analytic kernel at {worst}: "
        f"MC {estimate.mean[worst]:.5g} vs analytic {analytic[worst]:.5g}, "
        f"allowed {allowed[worst]:.3g} (stderr {estimate.stderr[worst]:.3g})"
    )
