"""GlobalSelfAttention kernels against Monte Carlo estimates of finite attention layers.

Hron et al. 2020 ("Infinite attention", arXiv:2006.10540) prove two limits,
and these tests check exactly those:

* ``linear_scaling=True``: logits scaled by ``1/d_k`` with *tied* query and key
  weights. As ``d_k -> inf`` the logits converge to the deterministic
  ``sigma_QK * K(a, b)`` and, given them, the output is Gaussian with kernel
  ``sigma_OV^2 G K G^T + sigma_b^2`` — for any mechanism (SOFTMAX, IDENTITY,
  ABS, RELU). The finite layer has an ``O(1/d_k)`` bias (random logits), so
  these cases use ``d_k = 1024``.
* ``linear_scaling=False`` (``1/sqrt(d_k)``, independent weights): the output
  is a GP only as the number of heads grows, with a closed-form kernel for
  IDENTITY only; its second moment is exact at any width for fixed inputs,
  so only sampling noise remains.

Every case attends over raw inputs, so the input covariance is exact (a Dense
layer before would add its own O(1/width) bias); cases with positional
embeddings use 256 input channels, because the embeddings' inner products with
the inputs average out only over many channels (bias O(1/channels)).

Tolerance (``assert_mc_close``): 5 standard errors of the mean over 100
networks plus 2 % of the kernel scale for the O(1/width) bias. Observed when
written: all entries within 3.5 standard errors; stderr is 2-4 % of the
kernel scale (64 output channels, 4-16 heads).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import LayerError

from .._monte_carlo import Estimate, assert_mc_close
from .._tolerances import CLOSED_FORM_RTOL

N_SAMPLES = 100


def monte_carlo_full(
    layer, x, key, n_samples=N_SAMPLES, ntk=False, ntk_channels=2, **kw
):
    """Mean and stderr of the empirical NNGP (and NTK) in the full layout
    ``(N, N, T, T)``: the helpers in tests/_monte_carlo.py average positions
    away, but attention's kernel lives in the position pairs."""
    init_fn, apply_fn, _ = layer
    n, t = x.shape[:2]

    def one(k):
        _, params = init_fn(k, x.shape)
        f = apply_fn(params, x, **kw)
        nngp = jnp.einsum("iac,jbc->ijab", f, f) / f.shape[-1]
        if not ntk:
            return nngp, nngp

        def flat(p):
            return apply_fn(p, x, **kw)[..., :ntk_channels].reshape(-1)

        y, vjp = jax.vjp(flat, params)
        # J J^T one column at a time (VJP then JVP), never the Jacobian itself.
        cols = jax.lax.map(
            lambda e: jax.jvp(flat, (params,), vjp(e))[1],
            jnp.eye(y.size, dtype=y.dtype),
        )
        cols = cols.reshape(n, t, ntk_channels, n, t, ntk_channels)
        return nngp, jnp.einsum("iacjbc->ijab", cols) / ntk_channels

    many = jax.jit(lambda keys: jax.lax.map(one, keys))
    a, b = (np.asarray(v) for v in many(jax.random.split(key, n_samples)))

    def estimate(v):
        return Estimate(v.mean(0), v.std(0, ddof=1) / np.sqrt(n_samples))

    return estimate(a), estimate(b)


# (input channels, heads, d_k, d_v, mechanism, extra arguments, check NTK)
MC_CASES = {
    "softmax": (3, 16, 1024, 16, "SOFTMAX", {}, True),
    "identity": (3, 16, 1024, 16, "IDENTITY", {}, False),
    "relu": (3, 16, 1024, 16, "RELU", {}, False),
    "identity_sqrt_scaling": (
        3,
        16,
        64,
        16,
        "IDENTITY",
        {"linear_scaling": False},
        True,
    ),
    "softmax_sum_pos_emb": (256, 4, 512, 32, "SOFTMAX", {"pos_emb_type": "SUM"}, False),
    "relu_concat_val_decay": (
        256,
        4,
        512,
        32,
        "RELU",
        {
            "pos_emb_type": "CONCAT",
            "val_pos_emb": True,
            "pos_emb_decay_fn": lambda d: jnp.exp(-d),
        },
        False,
    ),
}


@pytest.mark.parametrize("case", list(MC_CASES))
def test_monte_carlo(case, key):
    n_in, heads, d_k, d_v, mechanism, extra, check_ntk = MC_CASES[case]
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 4, n_in))
    layer = stax.GlobalSelfAttention(
        64,
        d_k,
        d_v,
        heads,
        attention_mechanism=mechanism,
        W_key_std=1.3,
        W_value_std=1.1,
        b_std=0.1,
        **extra,
    )
    analytic = layer.kernel_fn(x, None, ("nngp", "ntk"))
    nngp, ntk = monte_carlo_full(layer, x, key, ntk=check_ntk)
    assert_mc_close(nngp, analytic.nngp, f"{case} nngp")
    if check_ntk:
        assert_mc_close(ntk, analytic.ntk, f"{case} ntk")


def _softmax_rows(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_linear_scaling_closed_form_by_hand(x64):
    """The paper's formula written out in numpy for one Dense + attention stack."""
    x1 = np.random.RandomState(0).standard_normal((2, 5, 3))
    x2 = np.random.RandomState(1).standard_normal((3, 5, 3))
    net = stax.serial(
        stax.Dense(8, W_std=1.4, b_std=0.3),
        stax.GlobalSelfAttention(
            8,
            8,
            8,
            2,
            W_key_std=1.5,
            W_query_std=0.8,
            W_value_std=1.2,
            W_out_std=0.7,
            b_std=0.2,
        ),
    )
    k = net.kernel_fn(x1, x2, ("nngp", "ntk"))
    k12 = 1.4**2 * np.einsum("iac,jbc->ijab", x1, x2) / 3 + 0.09
    k11 = 1.4**2 * np.einsum("iac,ibc->iab", x1, x1) / 3 + 0.09
    k22 = 1.4**2 * np.einsum("iac,ibc->iab", x2, x2) / 3 + 0.09
    g1, g2 = _softmax_rows(1.2 * k11), _softmax_rows(1.2 * k22)
    gkg = np.einsum("iab,ijbc,jdc->ijad", g1, k12, g2)
    ov = (1.2 * 0.7) ** 2
    # Dense's NTK equals its NNGP; W_V and W_O add 2 G K G^T.
    np.testing.assert_allclose(
        k.nngp, ov * gkg + 0.04, rtol=CLOSED_FORM_RTOL["float64"]
    )
    np.testing.assert_allclose(
        k.ntk, 3 * ov * gkg + 0.04, rtol=CLOSED_FORM_RTOL["float64"]
    )


def test_apply_fn_shapes_and_axes(key):
    """Channels-first inputs give the same outputs as channels-last ones."""
    x = jax.random.normal(key, (2, 6, 3))
    last = stax.GlobalSelfAttention(5, 4, 4, 2, b_std=0.1, pos_emb_type="SUM")
    first = stax.GlobalSelfAttention(
        5, 4, 4, 2, b_std=0.1, pos_emb_type="SUM", channel_axis=1
    )
    shape, params = last.init_fn(key, x.shape)
    assert shape == (2, 6, 5)
    shape_t, _ = first.init_fn(key, (2, 3, 6))
    assert shape_t == (2, 5, 6)
    # The same weights laid out for channels-first inputs.
    params_t = params[:4] + (params[4].transpose(0, 2, 1), params[5].transpose(0, 2, 1))
    out = jax.jit(last.apply_fn)(params, x)
    out_t = jax.jit(first.apply_fn)(params_t, jnp.swapaxes(x, 1, 2))
    np.testing.assert_allclose(jnp.swapaxes(out_t, 1, 2), out, rtol=1e-5, atol=1e-6)


def test_errors_name_the_fix():
    with pytest.raises(LayerError, match="attention_mechanism"):
        stax.GlobalSelfAttention(8, 8, 8, 2, attention_mechanism="TANH")
    with pytest.raises(LayerError, match="n_heads"):
        stax.GlobalSelfAttention(8, 8, 8, 0)
    x = np.ones((2, 4, 3))
    with pytest.raises(LayerError, match="no closed form"):
        stax.GlobalSelfAttention(8, 8, 8, 2, linear_scaling=False).kernel_fn(x, None)
    with pytest.raises(LayerError, match="n_chan_pos_emb"):
        stax.GlobalSelfAttention(
            8, 8, 8, 2, pos_emb_type="SUM", n_chan_pos_emb=5
        ).kernel_fn(x, None)
