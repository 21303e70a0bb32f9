"""Exact feature maps of the linear layers: ``nkwidgets/_sketch/_linear.py``,
``_spatial.py`` and the ``exact`` method of ``_dual.py``.

With ReLU's duals factored exactly (no sketch), a network of feature layers
must reproduce ``stax.kernel_fn`` to rounding: this checks every linear map
(convolution patches, padding, strides, pooling, flattening) on its own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import data, sketch, stax
from nkwidgets.errors import LayerError

from .._tolerances import CLOSED_FORM_RTOL
from ._helpers import grams

W, B = 1.3, 0.2


def _images():
    return data.digits(train=2, test=1, images=True).x_train.astype(np.float64)


CNNS = {
    "same_gap": (
        [
            stax.Conv(1, (3, 3), padding="SAME", W_std=W, b_std=B),
            stax.Relu(),
            stax.GlobalAvgPool(),
        ],
        [
            sketch.ConvFeatures((3, 3), padding="SAME", W_std=W, b_std=B),
            sketch.ReluFeatures(method="exact"),
            sketch.GlobalAvgPoolFeatures(),
        ],
    ),
    "valid_strided_flatten": (
        [stax.Conv(1, (3, 2), (2, 1), "VALID", W_std=W), stax.Relu(), stax.Flatten()],
        [
            sketch.ConvFeatures((3, 2), (2, 1), "VALID", W_std=W),
            sketch.ReluFeatures(method="exact"),
            sketch.FlattenFeatures(),
        ],
    ),
    "circular_avgpool": (
        [
            stax.Conv(1, (3, 3), padding="CIRCULAR", W_std=W, b_std=B),
            stax.Relu(),
            stax.AvgPool((2, 2), (2, 2), "SAME"),
            stax.Flatten(),
        ],
        [
            sketch.ConvFeatures((3, 3), padding="CIRCULAR", W_std=W, b_std=B),
            sketch.ReluFeatures(method="exact"),
            sketch.AvgPoolFeatures((2, 2), (2, 2), "SAME"),
            sketch.FlattenFeatures(),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(CNNS))
def test_exact_cnn_features_reproduce_stax(name, x64):
    s_layers, f_layers = CNNS[name]
    x = _images()
    exact = stax.serial(*s_layers, stax.Dense(1, W, B))[2](x, None, ("nngp", "ntk"))
    init_fn, feature_fn = sketch.serial(*f_layers, sketch.DenseFeatures(W, B))
    shapes, params = init_fn(jax.random.PRNGKey(0), x.shape)
    feats = feature_fn(x, params)
    assert feats.nngp_feat.shape[1:] == shapes.nngp[1:]
    assert feats.ntk_feat.shape[1:] == shapes.ntk[1:]
    for got, want in zip(grams(feats), exact, strict=True):
        np.testing.assert_allclose(got, want, rtol=CLOSED_FORM_RTOL["float64"])


def test_layernorm_normalises_both_kernels(x64):
    # Independent formula: K / sqrt(q_x q_y), Theta / sqrt(q_x q_y).
    x = np.random.RandomState(0).randn(5, 7)
    init_fn, feature_fn = sketch.serial(
        sketch.DenseFeatures(W, B), sketch.LayerNormFeatures()
    )
    before = sketch.DenseFeatures(W, B).feature_fn(x)
    k, theta = grams(before)
    q = np.sqrt(np.diag(k))
    feats = feature_fn(x, init_fn(jax.random.PRNGKey(0), x.shape)[1])
    np.testing.assert_allclose(grams(feats)[0], k / np.outer(q, q), rtol=1e-12)
    np.testing.assert_allclose(grams(feats)[1], theta / np.outer(q, q), rtol=1e-12)


def test_float32_and_jit(key):
    x = jnp.asarray(np.random.RandomState(0).randn(4, 10), jnp.float32)
    init_fn, feature_fn = sketch.serial(
        sketch.DenseFeatures(),
        sketch.ElementwiseFeatures(jnp.tanh, 4, 64),
        sketch.DenseFeatures(),
    )
    shapes, params = init_fn(key, x.shape)
    feats = jax.jit(feature_fn)(x, params)
    assert feats.ntk_feat.dtype == jnp.float32
    assert feats.ntk_feat.shape == (4,) + shapes.ntk[1:]
    assert bool(jnp.all(jnp.isfinite(feats.ntk_feat)))


def test_errors_name_the_fix(key):
    with pytest.raises(LayerError, match="method="):
        sketch.ReluFeatures(method="taylor")
    with pytest.raises(LayerError, match=r"serial\[1\].*nkwidgets.sketch"):
        sketch.serial(sketch.DenseFeatures(), stax.Relu())
    with pytest.raises(LayerError, match="padding"):
        sketch.ConvFeatures((3, 3), padding="REFLECT")
    with pytest.raises(LayerError, match=r"serial\[0\] > ConvFeatures.*spatial"):
        sketch.serial(sketch.ConvFeatures((3, 3))).init_fn(key, (2, 10))
    init_fn, _ = sketch.ReluFeatures(16)
    with pytest.raises(LayerError, match="outside jit"):
        jax.jit(lambda k: init_fn(k, (2, 3))[1])(key)


def test_public_api():
    expected = {
        "DenseFeatures",
        "ReluFeatures",
        "ElementwiseFeatures",
        "ConvFeatures",
        "AvgPoolFeatures",
        "GlobalAvgPoolFeatures",
        "FlattenFeatures",
        "LayerNormFeatures",
        "serial",
        "Features",
        "FeatureLayer",
        "FeatureShapes",
        "hermite_coefficients",
        "derivative_expansion",
        "dual_series",
        "HermiteExpansion",
        "gradient_descent_mse",
        "gradient_descent_mse_streamed",
        "feature_statistics",
        "feature_batches",
        "FeatureStatistics",
    }
    public = {n for n in dir(sketch) if not n.startswith("_")}
    assert expected <= public


def test_layernorm_matches_stax(x64):
    x = np.random.RandomState(1).randn(5, 7)
    exact = stax.serial(
        stax.Dense(1, W, B), stax.LayerNorm(), stax.Relu(), stax.Dense(1, W, B)
    )[2](x, None, ("nngp", "ntk"))
    init_fn, feature_fn = sketch.serial(
        sketch.DenseFeatures(W, B),
        sketch.LayerNormFeatures(),
        sketch.ReluFeatures(method="exact"),
        sketch.DenseFeatures(W, B),
    )
    feats = feature_fn(x, init_fn(jax.random.PRNGKey(0), x.shape)[1])
    for got, want in zip(grams(feats), exact, strict=True):
        np.testing.assert_allclose(got, want, rtol=CLOSED_FORM_RTOL["float64"])
