"""Random-feature and PolySketch estimators are unbiased: averaged over seeds they
converge to the exact kernel. Tests ``nkwidgets/_sketch/_random_features.py``,
``_polysketch.py`` and ``_dual.py``.

One hidden layer, so the sketched layer sees exact input features and every
estimator is unbiased, not just consistent (deeper layers apply a nonlinear
dual to an estimate, a bias O(1/m)).
"""

from __future__ import annotations

import jax
import numpy as np

from nkwidgets import sketch, stax

from .._tolerances import MC_SIGMAS
from ._helpers import grams, seed_keys

SEEDS = 300
W, B = 1.5, 0.1


def _seed_grams(net, x, seeds):
    init_fn, feature_fn = net
    fn = jax.jit(lambda p: grams(feature_fn(x, p)))
    out = [fn(init_fn(k, x.shape)[1]) for k in seed_keys(seeds, offset=50_000)]
    return [np.stack([o[j] for o in out]) for j in (0, 1)]


def _assert_unbiased(samples, exact, resolution):
    """|mean - exact| within MC_SIGMAS standard errors, entry by entry.

    The standard error is the seeds' sample std / sqrt(seeds): the mean's
    error shrinks like 1/sqrt(seeds) exactly when the estimator is unbiased; a
    bias would push some entry's z-score past 5 as the seed count grows.
    """
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    z = np.abs(mean - exact) / (se + 1e-12)
    assert z.max() <= MC_SIGMAS, (z.max(), np.unravel_index(z.argmax(), z.shape))
    # Not vacuous: the seeds pin every entry to `resolution` of the kernel's scale.
    assert np.max(se) < resolution * np.max(np.abs(exact))


def test_relu_random_features_unbiased(x64):
    x = np.random.RandomState(1).randn(6, 5)
    exact = stax.serial(stax.Dense(1, W, B), stax.Relu(), stax.Dense(1, W, B))[2](
        x, None, ("nngp", "ntk")
    )
    net = sketch.serial(
        sketch.DenseFeatures(W, B),
        sketch.ReluFeatures(64, 64),
        sketch.DenseFeatures(W, B),
    )
    nngp, ntk = _seed_grams(net, x, SEEDS)
    # Width-64 random features, 300 seeds: measured standard errors <= 1.6 %.
    _assert_unbiased(nngp, np.asarray(exact.nngp), 0.02)
    _assert_unbiased(ntk, np.asarray(exact.ntk), 0.02)


def test_polysketch_unbiased_for_truncated_series(x64):
    # PolySketch is unbiased for the series it sketches: compare with the same
    # series evaluated without sketching (method='exact' on this batch).
    x = np.random.RandomState(2).randn(6, 40)
    erf = jax.scipy.special.erf

    def net(method):
        return sketch.serial(
            sketch.DenseFeatures(W, B),
            sketch.ElementwiseFeatures(erf, 5, 64, 64, method=method),
            sketch.DenseFeatures(W, B),
        )

    init_fn, feature_fn = net("exact")
    exact = grams(feature_fn(x, init_fn(jax.random.PRNGKey(0), x.shape)[1]))
    nngp, ntk = _seed_grams(net("ps"), x, SEEDS)
    # Width 64 split over 5 sketched powers is noisier: measured SE <= 2.5 %.
    _assert_unbiased(nngp, np.asarray(exact[0]), 0.04)
    _assert_unbiased(ntk, np.asarray(exact[1]), 0.04)
