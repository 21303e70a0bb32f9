"""Fan-in, repeat, Dropout and Flatten.

Tests nkwidgets/kernels/_branching.py (FanInConcat, FanInProd),
_combinators.py (repeat), _dropout.py and _flatten.py.

Exact float64 checks compare each layer with the kernels of its parts computed
separately (width-weighted mean, product rule, unrolled ``serial``, reshaped
inputs) at CLOSED_FORM_RTOL["float64"]. Monte Carlo (float32, 200 networks,
NNGP and NTK, both parameterizations) uses tolerance 5 standard errors + 2 %
of the kernel scale (tests/_tolerances.py). Networks keep one hidden layer of
width 1024 (branches fan out from the inputs; no 1024x1024 matrix), so the MC
mean is unbiased and each MC test takes ~1-3 s on the 2-core CI machine.
``repeat`` of Dense blocks would need hidden-to-hidden matrices; instead its
finite network and kernel are held exactly to the unrolled ``serial`` (whose
own MC is in test_fc_closed_forms.py), and its MC repeats Dropout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import LayerError

from .._monte_carlo import check_against_monte_carlo
from .._reference_duals import unit_inputs
from .._tolerances import CLOSED_FORM_RTOL

RTOL = CLOSED_FORM_RTOL["float64"]
D = {"W_std": 1.2, "b_std": 0.1}


def _dense(width, parameterization="ntk", **kw):
    return stax.Dense(width, parameterization=parameterization, **{**D, **kw})


def _both(kernel_fn, x1, x2):
    return kernel_fn(x1, x2, ("nngp", "ntk"))


def _close(got, want):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * np.max(np.abs(w)))


# ---- exact structure ------------------------------------------------------------


def test_fan_in_concat_is_width_weighted_mean(x64):
    x1, x2 = unit_inputs(dtype=np.float64)
    a = stax.serial(_dense(300), stax.Relu())
    b = stax.serial(_dense(100), stax.Erf())
    ka, kb = _both(a.kernel_fn, x1, x2), _both(b.kernel_fn, x1, x2)
    net = stax.serial(stax.FanOut(2), stax.parallel(a, b), stax.FanInConcat())
    got = net.kernel_fn(x1, x2)
    _close((got.nngp, got.ntk), [(3 * u + v) / 4 for u, v in zip(ka, kb, strict=True)])
    assert got.shape1 == (4, 400) and not got.is_gaussian
    equal = stax.serial(stax.FanOut(2), stax.parallel(a, a), stax.FanInConcat())
    _close(_both(equal.kernel_fn, x1, x2), ka)


def test_fan_in_prod_product_rule(x64):
    x1, x2 = unit_inputs(dtype=np.float64)
    a = stax.serial(_dense(64), stax.Relu())
    b = _dense(64, W_std=0.7)
    ka, kb = _both(a.kernel_fn, x1, x2), _both(b.kernel_fn, x1, x2)
    net = stax.serial(stax.FanOut(2), stax.parallel(a, b), stax.FanInProd())
    _close(
        _both(net.kernel_fn, x1, x2),
        (ka.nngp * kb.nngp, ka.ntk * kb.nngp + ka.nngp * kb.ntk),
    )


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_repeat_equals_unrolled_serial(x64, parameterization):
    x1, x2 = unit_inputs(dtype=np.float64)
    block = stax.serial(_dense(32, parameterization), stax.Erf())
    head = stax.serial(_dense(32, parameterization), stax.Relu())
    looped = stax.serial(head, stax.repeat(block, 3), _dense(1, parameterization))
    unrolled = stax.serial(head, block, block, block, _dense(1, parameterization))
    _close(_both(looped.kernel_fn, x1, x2), _both(unrolled.kernel_fn, x1, x2))
    # Neural Tangents' kernel_fn also accepts a block whose first application
    # changes the width (it runs outside the loop); init_fn refuses it.
    first_changes = stax.repeat(
        stax.serial(_dense(32, parameterization), stax.Relu()), 2
    )
    direct = stax.serial(*[stax.serial(_dense(32, parameterization), stax.Relu())] * 2)
    _close(_both(first_changes.kernel_fn, x1, x2), _both(direct.kernel_fn, x1, x2))
    with pytest.raises(LayerError, match=r"repeat.*maps shape"):
        first_changes.init_fn(jax.random.PRNGKey(0), x1.shape)


def test_repeat_apply_matches_unrolled_parameters():
    block = stax.serial(stax.Dense(8, 1.3, 0.1), stax.Relu())
    looped = stax.repeat(block, 3)
    unrolled = stax.serial(block, block, block)
    x = jnp.asarray(unit_inputs(d=8)[0])

    @jax.jit
    def both(key):
        shape, params = looped.init_fn(key, x.shape)
        assert shape == x.shape
        unstacked = [
            jax.tree_util.tree_map(lambda p, i=i: p[i], params) for i in range(3)
        ]
        return params, looped.apply_fn(params, x), unrolled.apply_fn(unstacked, x)

    params, got, want = both(jax.random.PRNGKey(1))
    assert jax.tree_util.tree_leaves(params)[0].shape[0] == 3  # stacked, as NT
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert stax.repeat(block, 0).kernel_fn(x, None, "nngp").shape == (4, 4)


def test_dropout_kernel_scales_same_example_terms(x64):
    x1, x2 = unit_inputs(dtype=np.float64)
    rate = 0.8
    base = stax.serial(_dense(64), stax.Relu())
    train = stax.serial(base, stax.Dropout(rate))
    test_mode = stax.serial(base, stax.Dropout(rate, mode="test"))
    k, kd = base.kernel_fn(x1, None), train.kernel_fn(x1, None)
    eye = np.eye(len(x1))
    scale = 1 + eye * (1 / rate - 1)
    _close((kd.nngp, kd.ntk, kd.cov1), (k.nngp * scale, k.ntk * scale, k.cov1 / rate))
    # x2 equal to x1 is the same batch (NT's rule); a different x2 only changes cov.
    _close(_both(train.kernel_fn, x1, x1.copy()), (kd.nngp, kd.ntk))
    k12, kd12 = base.kernel_fn(x1, x2), train.kernel_fn(x1, x2)
    _close((kd12.nngp, kd12.cov2), (k12.nngp, k12.cov2 / rate))
    _close(_both(test_mode.kernel_fn, x1, x2), _both(base.kernel_fn, x1, x2))
    params = test_mode.init_fn(jax.random.PRNGKey(0), x1.shape)[1]
    np.testing.assert_array_equal(
        test_mode.apply_fn(params, x1), base.apply_fn(params[0], x1)
    )


def test_flatten_equals_dense_on_reshaped_inputs(x64):
    rs = np.random.RandomState(0)
    x1, x2 = rs.randn(4, 3, 2, 2), rs.randn(3, 3, 2, 2)
    head = stax.serial(_dense(64), stax.Relu(), _dense(1))
    flat = stax.serial(stax.Flatten(), head)
    _close(
        _both(flat.kernel_fn, x1, x2),
        _both(head.kernel_fn, x1.reshape(4, -1), x2.reshape(3, -1)),
    )
    # Batch on axis 1 in, and out: same kernel.
    moved = stax.serial(
        stax.Flatten(batch_axis=1, batch_axis_out=1),
        _dense(64, batch_axis=1, channel_axis=0),
        stax.Relu(),
        _dense(1, batch_axis=1, channel_axis=0),
    )
    xt1, xt2 = np.moveaxis(x1, 0, 1), np.moveaxis(x2, 0, 1)
    _close(_both(moved.kernel_fn, xt1, xt2), _both(flat.kernel_fn, x1, x2))
    shape, _ = moved.init_fn(jax.random.PRNGKey(0), xt1.shape)
    assert shape == (1, 4)
    out = stax.Flatten(batch_axis=1, batch_axis_out=1).apply_fn((), jnp.asarray(xt1))
    np.testing.assert_array_equal(out, x1.reshape(4, -1).T)
    # Already flat (features, batch) inputs: Flatten picks the other axis as
    # channels, as NT's channel_axis=None requirement does.
    flat_x = x1.reshape(4, -1)
    flat_t = stax.Flatten(batch_axis=1).kernel_fn(flat_x.T, None, "nngp")
    np.testing.assert_allclose(flat_t, flat_x @ flat_x.T / flat_x.shape[1], rtol=RTOL)


# ---- Monte Carlo (float32 default) ---------------------------------------------


def _readout(parameterization):
    return _dense(64, parameterization)


def _concat_net(p):
    # Equal widths keep every shape shared with the other MC tests (compile
    # time); the width weighting is checked exactly above.
    return stax.serial(
        stax.FanOut(2),
        stax.parallel(
            stax.serial(_dense(1024, p), stax.Relu()),
            stax.serial(_dense(1024, p), stax.Erf()),
        ),
        stax.FanInConcat(),
        _readout(p),
    )


def _prod_net(p):
    return stax.serial(
        stax.FanOut(2),
        stax.parallel(
            stax.serial(_dense(1024, p), stax.Relu()), _dense(1024, p, W_std=0.7)
        ),
        stax.FanInProd(),
        _readout(p),
    )


def _repeat_net(p):
    # Dropout is the cheap shape-preserving block: the loop must split the rng
    # so each step draws its own mask (kernel: variances / rate**2). Repeated
    # Dense blocks are held to serial() exactly above, parameter for parameter.
    return stax.serial(
        _dense(1024, p), stax.Relu(), stax.repeat(stax.Dropout(0.9), 2), _readout(p)
    )


def _dropout_net(p):
    return stax.serial(_dense(1024, p), stax.Relu(), stax.Dropout(0.8), _readout(p))


def _flatten_net(p):
    return stax.serial(_dense(1024, p), stax.Relu(), stax.Flatten(), _readout(p))


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize(
    "make,inputs,self_kernel,stochastic",
    [
        (_concat_net, "fc", False, False),
        (_prod_net, "fc", False, False),
        (_repeat_net, "fc", True, True),
        (_dropout_net, "fc", False, True),
        (_dropout_net, "fc", True, True),
        (_flatten_net, "spatial", False, False),
    ],
    ids=["concat", "prod", "repeat", "dropout_x1x2", "dropout_x1x1", "flatten"],
)
def test_monte_carlo(key, make, inputs, self_kernel, stochastic, parameterization):
    if inputs == "fc":
        x1, x2 = unit_inputs()
    else:  # per-position Dense, then Flatten averages the position kernels
        rs = np.random.RandomState(0)
        x1 = rs.randn(4, 2, 1, 5).astype(np.float32)
        x2 = rs.randn(3, 2, 1, 5).astype(np.float32)
        x2[0] = x1[0]
    check_against_monte_carlo(
        make(parameterization),
        x1,
        None if self_kernel else x2,
        key,
        stochastic=stochastic,
    )
