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
    x = np.ones((2, 5, 5, 3))
    x[0, -1] = PAD
    net = stax.serial(stax.Dense(4), stax.Conv(4, (2, 2)))
    with pytest.raises(LayerError, match="masking is not supported by Conv"):
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
