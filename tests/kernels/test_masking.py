"""Masked (padded) positions never influence the kernel of the real positions.

Variable-length sequences are padded with ``mask_constant`` (Hron et al. 2020,
sec. 4). Padding is checked against the unpadded sequences themselves: the
kernel between real positions must not change when a batch is padded further,
and must equal the kernel of the unpadded sequences where their lengths allow
one call. Differences are rounding only (sums over a few more exact zeros, in
another reduction order), hence rtol 1e-12 in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import InputError, LayerError

from .._monte_carlo import assert_mc_close
from .test_attention import monte_carlo_full

PAD = -1e4
EXACT = 1e-12

NETWORKS = {
    "attention_gap": lambda: stax.serial(
        stax.Dense(16, W_std=1.5, b_std=0.2),
        stax.Relu(),
        stax.GlobalSelfAttention(
            16,
            16,
            16,
            2,
            b_std=0.1,
            pos_emb_type="SUM",
            pos_emb_decay_fn=lambda d: jnp.exp(-d),
        ),
        stax.Erf(),
        stax.GlobalAvgPool(),
        stax.Dense(1, b_std=0.1),
    ),
    "layernorm_positions_gap": lambda: stax.serial(
        stax.Dense(16, b_std=0.3),
        stax.LayerNorm(axis=(1, 2)),
        stax.GlobalSelfAttention(16, 16, 16, 2, attention_mechanism="RELU"),
        stax.GlobalSumPool(),
    ),
    "full_layout_output": lambda: stax.serial(
        stax.Dense(16, b_std=0.2),
        stax.GlobalSelfAttention(
            16, 16, 16, 2, b_std=0.3, pos_emb_type="CONCAT", val_pos_emb=True
        ),
    ),
}


def _kernel(net, x, get, **kw):
    # One compiled call instead of hundreds of eagerly dispatched operations:
    # the same arithmetic, several times faster on 2 cores.
    return jax.jit(lambda x: net.kernel_fn(x, None, get, **kw))(x)


def _pad(seqs, length):
    return np.stack(
        [np.pad(s, ((0, length - len(s)), (0, 0)), constant_values=PAD) for s in seqs]
    )


@pytest.fixture
def seqs():
    rng = np.random.RandomState(3)
    return [rng.standard_normal((n, 3)) for n in (3, 5, 3)]


def _real(k, lengths1, lengths2):
    """Kernel entries between real positions only (full layout) or all (pooled)."""
    k = np.asarray(k)
    if k.ndim == 2:
        return k
    out = np.zeros_like(k)
    for i, a in enumerate(lengths1):
        for j, b in enumerate(lengths2):
            out[i, j, :a, :b] = k[i, j, :a, :b]
    return out


@pytest.mark.parametrize("name", list(NETWORKS))
def test_padding_further_changes_nothing(name, seqs, x64):
    net = NETWORKS[name]()
    lengths = [len(s) for s in seqs]
    short, long = _pad(seqs, 5), _pad(seqs, 8)
    a = _kernel(net, short, ("nngp", "ntk"), mask_constant=PAD)
    b = _kernel(net, long, ("nngp", "ntk"), mask_constant=PAD)
    for what in ("nngp", "ntk"):
        got = getattr(b, what)
        if got.ndim > 2:
            # Masked rows and columns are exactly zero; real ones are compared below.
            assert np.all(np.asarray(got)[:, :, 5:, :] == 0)
            got = got[:, :, :5, :5]
        np.testing.assert_allclose(
            _real(got, lengths, lengths),
            _real(getattr(a, what), lengths, lengths),
            rtol=EXACT,
            atol=0,
        )


@pytest.mark.parametrize("name", list(NETWORKS))
def test_padded_equals_unpadded(name, seqs, x64):
    """Sequences 0 and 2 (length 3) padded to 5 in a batch with sequence 1
    give the kernel of the two unpadded sequences."""
    net = NETWORKS[name]()
    padded = _kernel(net, _pad(seqs, 5), "nngp", mask_constant=PAD)
    alone = _kernel(net, np.stack([seqs[0], seqs[2]]), "nngp")
    idx = np.array([0, 2])
    got = np.asarray(padded)[idx][:, idx]
    if got.ndim > 2:
        got = got[:, :, :3, :3]
    np.testing.assert_allclose(got, alone, rtol=EXACT, atol=1e-15)


def test_nan_as_mask_constant(seqs, x64):
    net = NETWORKS["attention_gap"]()
    with_nan = _pad(seqs, 6)
    with_nan[with_nan == PAD] = np.nan
    a = _kernel(net, with_nan, "nngp", mask_constant=float("nan"))
    b = _kernel(net, _pad(seqs, 6), "nngp", mask_constant=PAD)
    np.testing.assert_array_equal(a, b)


def test_masked_attention_matches_finite_networks(key):
    """Finite attention with the same mask agrees with the masked kernel.

    Raw inputs, linear scaling, d_k = 1024: as test_attention.py, tolerance 5
    standard errors + 2 % of the scale; only real query positions compared
    (the finite layer's outputs at padded positions are not zeroed).
    """
    rng = np.random.RandomState(4)
    lengths = [4, 2, 3]
    x = _pad([rng.standard_normal((n, 3)) for n in lengths], 4).astype(np.float32)
    layer = stax.GlobalSelfAttention(64, 1024, 16, 16, W_key_std=1.3, b_std=0.1)
    analytic = np.asarray(layer.kernel_fn(x, None, "nngp", mask_constant=PAD))
    mask = x[..., 0] == PAD
    nngp, _ = monte_carlo_full(layer, np.where(x == PAD, 0.0, x), key, mask=mask)
    real = ~mask[:, None, :, None] & ~mask[None, :, None, :]
    est = type(nngp)(np.where(real, nngp.mean, 0.0), np.where(real, nngp.stderr, 0.0))
    assert_mc_close(est, analytic, "masked nngp")
    assert np.all(analytic[~real] == 0)


def test_unsupported_layer_says_so():
    x = np.ones((2, 5, 3))
    x[0, -1] = PAD
    net = stax.serial(stax.Dense(4), stax.Dropout(0.5))
    with pytest.raises(LayerError, match="masking is not supported by Dropout"):
        net.kernel_fn(x, None, mask_constant=PAD)


def test_mask_constant_with_a_kernel_is_refused():
    k = stax.Dense(4).kernel_fn(np.ones((2, 3)), None)
    with pytest.raises(InputError, match="mask_constant"):
        stax.Relu().kernel_fn(k, mask_constant=0.0)
    with pytest.raises(InputError, match="must be a number"):
        stax.Dense(4).kernel_fn(np.ones((2, 3)), None, mask_constant="pad")


def test_kernel_under_jit(seqs, x64):
    net = NETWORKS["attention_gap"]()
    x = jnp.asarray(_pad(seqs, 5))
    eager = net.kernel_fn(x, None, "nngp", mask_constant=PAD)
    jitted = jax.jit(lambda x: net.kernel_fn(x, x, "nngp", mask_constant=PAD))(x)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12)


# --- Convolutions and pooling windows -------------------------------------

CNNS = {
    "conv_avgpool_gap": lambda: stax.serial(
        stax.Conv(8, (3,), padding="SAME", W_std=1.5, b_std=0.1),
        stax.Relu(),
        stax.AvgPool((2,)),
        stax.GlobalAvgPool(),
        stax.Dense(1, b_std=0.1),
    ),
    "strided_conv_sumpool": lambda: stax.serial(
        stax.Conv(8, (3,), strides=(2,), padding="SAME", b_std=0.1),
        stax.Relu(),
        stax.SumPool((2,), padding="SAME"),
        stax.GlobalSumPool(),
    ),
    "local_then_conv_full_layout": lambda: stax.serial(
        stax.ConvLocal(8, (3,), padding="SAME", b_std=0.1),
        stax.Erf(),
        stax.AvgPool((3,), padding="SAME"),
        stax.Conv(4, (2,), padding="SAME", b_std=0.2),
    ),
}


@pytest.fixture
def short_seqs():
    # Every sequence shorter than both paddings, so VALID and strided windows
    # see the same real positions in both batches (NT masks a window's output
    # by its centre, which a longer padding can turn from "outside" to "masked").
    rng = np.random.RandomState(5)
    return [rng.standard_normal((n, 3)) for n in (3, 4, 2)]


@pytest.mark.parametrize("name", list(CNNS))
def test_cnn_padding_further_changes_nothing(name, short_seqs, x64):
    net = CNNS[name]()
    lengths = [len(s) for s in short_seqs]
    a = _kernel(net, _pad(short_seqs, 5), ("nngp", "ntk"), mask_constant=PAD)
    b = _kernel(net, _pad(short_seqs, 9), ("nngp", "ntk"), mask_constant=PAD)
    for what in ("nngp", "ntk"):
        got, want = np.asarray(getattr(b, what)), np.asarray(getattr(a, what))
        if got.ndim > 2:
            assert np.all(got[:, :, 5:, :] == 0) and np.all(got[:, :, :, 5:] == 0)
            got = got[:, :, :5, :5]
        # Nothing is compared trivially: real entries are far from zero.
        assert np.abs(_real(want, lengths, lengths)).max() > 0.1
        np.testing.assert_allclose(
            _real(got, lengths, lengths),
            _real(want, lengths, lengths),
            rtol=EXACT,
            atol=0,
        )


def test_cnn_padded_equals_unpadded(seqs, x64):
    """SAME windows with stride 1 read masked zeros exactly as zero padding,
    so the two length-3 sequences padded to 5 give their unpadded kernel."""
    net = stax.serial(
        stax.Conv(8, (3,), padding="SAME", W_std=1.5, b_std=0.1),
        stax.Relu(),
        stax.AvgPool((3,), padding="SAME"),
        stax.Conv(8, (2,), padding="SAME"),
        stax.Relu(),
        stax.GlobalAvgPool(),
    )
    padded = _kernel(net, _pad(seqs, 5), ("nngp", "ntk"), mask_constant=PAD)
    alone = _kernel(net, np.stack([seqs[0], seqs[2]]), ("nngp", "ntk"))
    idx = np.array([0, 2])
    for what in ("nngp", "ntk"):
        got = np.asarray(getattr(padded, what))[idx][:, idx]
        np.testing.assert_allclose(got, getattr(alone, what), rtol=EXACT, atol=1e-15)


def test_window_masks_follow_neural_tangents(x64):
    """Output masks: a window's centre input (strided conv, pooling), any
    input a transposed convolution spreads, and the output's axis order."""
    x = np.ones((2, 7, 1))
    x[1, 5:] = PAD  # positions 5, 6 of example 1 are padding
    strided = stax.Conv(2, (3,), strides=(2,)).kernel_fn(x, None, mask_constant=PAD)
    # VALID windows start at 0, 2, 4: centres 1, 3, 5.
    np.testing.assert_array_equal(strided.mask1[1], [False, False, True])
    pooled = stax.AvgPool((2,), strides=(2,)).kernel_fn(x, None, mask_constant=PAD)
    # Windows (0,1), (2,3), (4,5): centres 0, 2, 4 (the lower middle).
    np.testing.assert_array_equal(pooled.mask1[1], [False, False, False])
    spread = stax.ConvTranspose(2, (2,), strides=(2,)).kernel_fn(
        x, None, mask_constant=PAD
    )
    np.testing.assert_array_equal(spread.mask1[1], [False] * 10 + [True] * 4)
    images = np.ones((1, 3, 4, 1))
    images[0, 2] = PAD  # the last row
    swapped = stax.Conv(
        2, (1, 1), dimension_numbers=("NHWC", "HWIO", "NWHC")
    ).kernel_fn(images, None, mask_constant=PAD)
    np.testing.assert_array_equal(
        swapped.mask1[0], np.tile([False, False, True], (4, 1))
    )


def test_circular_pooling_refuses_masks():
    x = np.ones((2, 5, 3))
    x[0, -1] = PAD
    net = stax.serial(stax.Dense(4), stax.AvgPool((3,), padding="CIRCULAR"))
    with pytest.raises(LayerError, match="padding='SAME' or 'VALID'"):
        net.kernel_fn(x, None, mask_constant=PAD)


# --- Index -----------------------------------------------------------------


def _diagonal(k):
    """The same-position layout of a full-layout kernel, taken with numpy."""

    def diag(x, batch_ndim):
        x = np.asarray(x)
        return np.einsum("...hhww->...hw", x) if batch_ndim else x

    return k.replace(
        nngp=diag(k.nngp, 2),
        ntk=diag(k.ntk, 2),
        cov1=diag(k.cov1, 1),
        cov2=diag(k.cov2, 1),
        diagonal_spatial=True,
    )


def test_index_is_a_slice_of_the_full_covariance(x64):
    rng = np.random.RandomState(6)
    x1, x2 = rng.standard_normal((4, 5, 4, 2)), rng.standard_normal((3, 5, 4, 2))
    x1[1, 3:] = PAD
    body = stax.serial(stax.Conv(8, (2, 2), padding="SAME", b_std=0.1), stax.Relu())
    k = body.kernel_fn(x1, x2, mask_constant=PAD)
    nngp, ntk = np.asarray(k.nngp), np.asarray(k.ntk)
    cov1, cov2 = np.asarray(k.cov1), np.asarray(k.cov2)
    mask1 = np.asarray(k.mask1)

    # Batch slice on both example axes, rows reversed, column 1 dropped as an axis.
    index = stax.Index(stax.Slice[1:, ::-1, 1])
    out = index.kernel_fn(k)
    b, h, w = slice(1, None), slice(None, None, -1), 1
    np.testing.assert_array_equal(out.nngp, nngp[b, b, h, h, w, w])
    np.testing.assert_array_equal(out.ntk, ntk[b, b, h, h, w, w])
    np.testing.assert_array_equal(out.cov1, cov1[b, h, h, w, w])
    np.testing.assert_array_equal(out.cov2, cov2[b, h, h, w, w])
    np.testing.assert_array_equal(out.mask1, mask1[b, h, w])
    assert out.shape1 == (3, 5, 8) and out.channel_axis == 2

    # The same-position layout: one index per spatial axis.
    d = _diagonal(k)
    out = stax.Index(stax.Slice[:, 2:, ..., :]).kernel_fn(d)
    np.testing.assert_array_equal(out.nngp, np.asarray(d.nngp)[:, :, 2:])
    np.testing.assert_array_equal(out.cov1, np.asarray(d.cov1)[:, 2:])

    # The finite layer indexes the same way.
    out_shape, _ = index.init_fn(jax.random.PRNGKey(0), (4, 5, 4, 8))
    assert out_shape == np.empty((4, 5, 4, 8))[1:, ::-1, 1].shape
    y = np.arange(4 * 5 * 4 * 8.0).reshape(4, 5, 4, 8)
    np.testing.assert_array_equal(index.apply_fn((), y), y[1:, ::-1, 1])


def test_index_refuses_channels_and_integer_batches():
    x = np.ones((2, 5, 3))
    with pytest.raises(LayerError, match="channel axis"):
        stax.Index(stax.Slice[..., :2]).kernel_fn(x, None)
    with pytest.raises(LayerError, match="slice it instead"):
        stax.Index(stax.Slice[0]).kernel_fn(x, None)
    with pytest.raises(LayerError, match="stax.Slice"):
        stax.Index(stax.Slice[:, None])
    with pytest.raises(LayerError, match="does not fit"):
        stax.Index(stax.Slice[:, 7]).init_fn(None, (2, 5, 3))
