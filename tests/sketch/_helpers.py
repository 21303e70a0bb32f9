"""Shared pieces of the sketch tests: errors of sketched kernels over seeds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def grams(feats):
    """NNGP and NTK Gram matrices of flat features."""
    return feats.nngp_feat @ feats.nngp_feat.T, feats.ntk_feat @ feats.ntk_feat.T


def seed_keys(seeds: int, offset: int = 0):
    return [jax.random.PRNGKey(1000 + offset + s) for s in range(seeds)]


def relative_errors(layer, x, exact, seeds):
    """Relative Frobenius errors ``(seeds, 2)`` [NNGP, NTK] of ``layer``'s Grams.

    ``feature_fn`` is jitted once: every seed's params have the same shapes.
    """
    init_fn, feature_fn = layer
    k_nngp, k_ntk = (jnp.asarray(k) for k in exact)

    @jax.jit
    def errors(params):
        g_nngp, g_ntk = grams(feature_fn(x, params))
        return jnp.stack(
            [
                jnp.linalg.norm(g_nngp - k_nngp) / jnp.linalg.norm(k_nngp),
                jnp.linalg.norm(g_ntk - k_ntk) / jnp.linalg.norm(k_ntk),
            ]
        )

    return np.stack(
        [np.asarray(errors(init_fn(k, x.shape)[1])) for k in seed_keys(seeds)]
    )


def loglog_slope(dims, errors):
    """Least-squares slope of log(error) against log(dim)."""
    return float(np.polyfit(np.log(dims), np.log(errors), 1)[0])
