"""Convolution and pooling kernels against finite networks and independent formulas.

Neural Tangents parity for the same layers lives in ``test_nt_parity.py``
(family ``conv``); here every layer is checked against Monte Carlo estimates
of finite networks (256 channels), and the structural facts of Novak et al.
2019 are checked exactly.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import LayerError

from .._monte_carlo import assert_mc_close, monte_carlo_kernels
from .._tolerances import CLOSED_FORM_RTOL

WIDTH = 256

# Each case: (hidden layers at WIDTH channels, readout, input shape without batch).
# One hidden layer of random features, then a linear readout with its own
# weights: the readout's kernel averages independent hidden channels, so the
# Monte Carlo mean equals the infinite-width kernel exactly (no width bias) and
# only sampling noise remains.
MC_CASES = {
    "conv_same": (
        lambda: [
            stax.Conv(WIDTH, (3, 3), padding="SAME", W_std=1.4, b_std=0.2),
            stax.Relu(),
        ],
        "flatten",
        (5, 4, 2),
    ),
    "conv_valid_strided": (
        lambda: [stax.Conv(WIDTH, (2, 3), strides=(2, 1), W_std=1.2), stax.Erf()],
        "flatten",
        (5, 4, 2),
    ),
    "conv_circular_gap": (
        lambda: [stax.Conv(WIDTH, (3, 3), padding="CIRCULAR", b_std=0.3), stax.Relu()],
        "gap",
        (5, 4, 2),
    ),
    "conv_standard_gap": (
        lambda: [
            stax.Conv(
                WIDTH,
                (3, 2),
                padding="SAME",
                parameterization="standard",
                W_std=1.3,
                b_std=0.2,
            ),
            stax.Relu(),
        ],
        "gap_standard",
        (5, 4, 2),
    ),
    "convtranspose_same": (
        lambda: [
            stax.ConvTranspose(
                WIDTH, (3, 3), strides=(2, 2), padding="SAME", b_std=0.1
            ),
            stax.Relu(),
        ],
        "gap",
        (3, 3, 2),
    ),
    "convtranspose_circular": (
        lambda: [
            stax.ConvTranspose(WIDTH, (3, 2), strides=(2, 1), padding="CIRCULAR"),
            stax.Relu(),
        ],
        "gap",
        (3, 3, 2),
    ),
    "convlocal_gap": (
        lambda: [stax.ConvLocal(WIDTH, (3, 3), padding="SAME", b_std=0.2), stax.Relu()],
        "gap",
        (4, 4, 2),
    ),
    "conv1d_gap": (
        lambda: [stax.Conv(WIDTH, (3,), padding="SAME"), stax.Relu()],
        "gap",
        (6, 3),
    ),
    "conv3d_flatten": (
        lambda: [stax.Conv(WIDTH, (2, 2, 2), padding="SAME"), stax.Relu()],
        "flatten",
        (3, 3, 3, 2),
    ),
    "conv_nchw_gap": (
        lambda: [
            stax.Conv(
                WIDTH,
                (3, 2),
                padding="SAME",
                dimension_numbers=("NCHW", "OIHW", "NCHW"),
            ),
            stax.Relu(),
        ],
        "gap_nchw",
        (2, 5, 4),
    ),
    "avgpool_strided": (
        lambda: [
            stax.Conv(WIDTH, (2, 2), padding="SAME"),
            stax.Relu(),
            stax.AvgPool((2, 2), strides=(2, 2)),
        ],
        "flatten",
        (5, 4, 2),
    ),
    "avgpool_normalize_edges": (
        lambda: [
            stax.Conv(WIDTH, (2, 2), padding="SAME"),
            stax.Relu(),
            stax.AvgPool((3, 3), padding="SAME", normalize_edges=True),
        ],
        "flatten",
        (4, 4, 2),
    ),
    "sumpool_same_globalsum": (
        lambda: [
            stax.Conv(WIDTH, (2, 2)),
            stax.Relu(),
            stax.SumPool((2, 2), padding="SAME"),
        ],
        "global_sum",
        (4, 4, 2),
    ),
}

READOUTS = {
    "flatten": lambda: [stax.Flatten(), stax.Dense(64)],
    "gap": lambda: [stax.GlobalAvgPool(), stax.Dense(64)],
    "gap_standard": lambda: [
        stax.GlobalAvgPool(),
        stax.Dense(64, parameterization="standard"),
    ],
    "gap_nchw": lambda: [stax.GlobalAvgPool(channel_axis=1), stax.Dense(64)],
    "global_sum": lambda: [stax.GlobalSumPool(), stax.Dense(64, W_std=0.5)],
}


@pytest.mark.parametrize("case", sorted(MC_CASES))
def test_layers_match_monte_carlo(case, x64):
    """NNGP and NTK within 5 standard errors + 2 % of scale of 160 networks."""
    hidden, readout, shape = MC_CASES[case]
    net = stax.serial(*hidden(), *READOUTS[readout]())
    key = jax.random.PRNGKey(hash(case) % 2**31)
    k1, k2, k3 = jax.random.split(key, 3)
    x1 = jax.random.normal(k1, (3, *shape))
    x2 = jax.random.normal(k2, (2, *shape))
    analytic = net.kernel_fn(x1, x2, ("nngp", "ntk"))
    mc = monte_carlo_kernels(net, x1, x2, (-1, *shape), n_samples=160, key=k3, batch=40)
    assert_mc_close(mc["nngp"], analytic.nngp, f"{case} nngp")
    assert_mc_close(mc["ntk"], analytic.ntk, f"{case} ntk")


def _images(key, n, shape=(6, 5, 2)):
    return jax.random.normal(key, (n, *shape))


def _deep(conv, readout):
    return stax.serial(
        conv(16, (3, 3), padding="SAME", W_std=1.4, b_std=0.1),
        stax.Relu(),
        conv(16, (3, 3), padding="SAME", W_std=1.4, b_std=0.1),
        stax.Relu(),
        readout,
        stax.Dense(1),
    )


def test_without_pooling_cnn_equals_locally_connected(x64):
    """Novak et al. 2019: without pooling, weight sharing leaves the kernel unchanged."""
    x1, x2 = _images(jax.random.PRNGKey(0), 4), _images(jax.random.PRNGKey(1), 3)
    cnn = _deep(stax.Conv, stax.Flatten()).kernel_fn(x1, x2, ("nngp", "ntk"))
    lcn = _deep(stax.ConvLocal, stax.Flatten()).kernel_fn(x1, x2, ("nngp", "ntk"))
    rtol = CLOSED_FORM_RTOL["float64"]
    np.testing.assert_allclose(cnn.nngp, lcn.nngp, rtol=rtol)
    np.testing.assert_allclose(cnn.ntk, lcn.ntk, rtol=rtol)


def test_with_global_pooling_cnn_and_locally_connected_differ(x64):
    """With GlobalAvgPool the CNN sees cross-position covariances the LCN lacks."""
    x1, x2 = _images(jax.random.PRNGKey(0), 4), _images(jax.random.PRNGKey(1), 3)
    cnn = _deep(stax.Conv, stax.GlobalAvgPool()).kernel_fn(x1, x2, "nngp")
    lcn = _deep(stax.ConvLocal, stax.GlobalAvgPool()).kernel_fn(x1, x2, "nngp")
    relative = np.max(np.abs(cnn - lcn)) / np.max(np.abs(cnn))
    assert relative > 0.05, relative


def _numpy_conv_relu_full(x1, x2, W_std, b_std):
    """Full spatial NNGP of Conv(3x3, SAME) + Relu, by explicit loops (no engine code)."""
    n1, h, w, c = x1.shape
    x = np.concatenate([x1, x2])
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # Input covariance between every (example, position) pair, then the conv:
    # output (a, b) pairs input (a + f, b + f) over the 9 offsets f.
    cov_in = np.einsum("iabc,jdec->iabjde", pad, pad) / c
    n = x.shape[0]
    cov = np.zeros((n, h, w, n, h, w))
    for fh, fw in itertools.product(range(3), range(3)):
        cov += cov_in[:, fh : fh + h, fw : fw + w, :, fh : fh + h, fw : fw + w]
    cov = W_std**2 * cov / 9 + b_std**2
    var = np.einsum("iabiab->iab", cov)
    norm = np.sqrt(np.einsum("iab,jde->iabjde", var, var))
    rho = np.clip(cov / norm, -1, 1)
    theta = np.arccos(rho)
    relu = norm * (np.sin(theta) + (np.pi - theta) * rho) / (2 * np.pi)
    return relu[:n1, :, :, n1:]


def test_global_avg_pool_is_mean_of_full_covariance(x64):
    """GlobalAvgPool's kernel = mean over all position pairs of the full covariance."""
    x1 = np.asarray(_images(jax.random.PRNGKey(2), 3))
    x2 = np.asarray(_images(jax.random.PRNGKey(3), 2))
    full = _numpy_conv_relu_full(x1, x2, 1.3, 0.2)
    expected = full.mean(axis=(1, 2, 4, 5))
    net = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME", W_std=1.3, b_std=0.2),
        stax.Relu(),
        stax.GlobalAvgPool(),
    )
    got = net.kernel_fn(x1, x2, "nngp")
    np.testing.assert_allclose(got, expected, rtol=CLOSED_FORM_RTOL["float64"])
    # The network's own output keeps every position pair, in (H, H', W, W') order.
    conv_relu = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME", W_std=1.3, b_std=0.2), stax.Relu()
    )
    got_full = conv_relu.kernel_fn(x1, x2, "nngp")
    np.testing.assert_allclose(
        got_full, full.transpose(0, 3, 1, 4, 2, 5), rtol=CLOSED_FORM_RTOL["float64"]
    )


def test_nchw_and_nhwc_agree(x64):
    x1, x2 = _images(jax.random.PRNGKey(4), 3), _images(jax.random.PRNGKey(5), 2)
    dn = ("NCHW", "OIHW", "NCHW")

    def net(**kw):
        return stax.serial(
            stax.Conv(8, (3, 2), strides=(1, 2), padding="SAME", b_std=0.1, **kw),
            stax.Relu(),
            stax.AvgPool((2, 2), channel_axis=1 if kw else -1),
            stax.GlobalAvgPool(channel_axis=1 if kw else -1),
        )

    nhwc = net().kernel_fn(x1, x2, ("nngp", "ntk"))
    nchw = net(dimension_numbers=dn).kernel_fn(
        jnp.moveaxis(x1, -1, 1), jnp.moveaxis(x2, -1, 1), ("nngp", "ntk")
    )
    rtol = CLOSED_FORM_RTOL["float64"]
    np.testing.assert_allclose(nchw.nngp, nhwc.nngp, rtol=rtol)
    np.testing.assert_allclose(nchw.ntk, nhwc.ntk, rtol=rtol)


def test_one_d_and_three_d_reduce_to_two_d(x64):
    """A (k, 1) filter on (H, 1) images is a 1-D convolution; a (k, l, 1) one on
    (H, W, 1) volumes is the 2-D one."""
    key = jax.random.PRNGKey(6)
    x = jax.random.normal(key, (3, 7, 2))
    one = stax.serial(
        stax.Conv(8, (3,), padding="SAME"), stax.Relu(), stax.GlobalAvgPool()
    )
    two = stax.serial(
        stax.Conv(8, (3, 1), padding="SAME"), stax.Relu(), stax.GlobalAvgPool()
    )
    np.testing.assert_allclose(
        one.kernel_fn(x, None, "ntk"),
        two.kernel_fn(x[:, :, None], None, "ntk"),
        rtol=CLOSED_FORM_RTOL["float64"],
    )
    y = jax.random.normal(key, (3, 5, 4, 2))
    three = stax.serial(
        stax.Conv(8, (3, 2, 1), padding="SAME"), stax.Relu(), stax.GlobalAvgPool()
    )
    two = stax.serial(
        stax.Conv(8, (3, 2), padding="SAME"), stax.Relu(), stax.GlobalAvgPool()
    )
    np.testing.assert_allclose(
        three.kernel_fn(y[:, :, :, None], None, "ntk"),
        two.kernel_fn(y, None, "ntk"),
        rtol=CLOSED_FORM_RTOL["float64"],
    )


def test_layout_follows_what_the_readout_needs():
    """Flatten reads positions one by one (diagonal layout suffices); pooling
    and a spatial output keep every position pair."""
    conv = [stax.Conv(8, (3, 3), padding="SAME"), stax.Relu()]
    assert stax.serial(*conv, stax.Flatten()).kernel_fn.requirements.diagonal_spatial
    assert not stax.serial(
        *conv, stax.GlobalAvgPool()
    ).kernel_fn.requirements.diagonal_spatial
    assert not stax.serial(*conv).kernel_fn.requirements.diagonal_spatial
    x = jnp.ones((2, 6, 5, 1))
    k = stax.serial(*conv, stax.Flatten(), stax.Dense(1)).kernel_fn(x, None)
    assert k.nngp.shape == (2, 2)
    assert stax.serial(*conv).kernel_fn(x, None).nngp.shape == (2, 2, 6, 6, 5, 5)


def test_jit_and_float32(x64):
    del x64
    x = jax.random.normal(jax.random.PRNGKey(7), (3, 6, 5, 2))
    net = stax.serial(
        stax.Conv(8, (3, 3), padding="SAME"),
        stax.Relu(),
        stax.AvgPool((2, 2)),
        stax.GlobalAvgPool(),
    )
    eager = net.kernel_fn(x, None, "ntk")
    jitted = jax.jit(net.kernel_fn, static_argnames="get")(x, None, get="ntk")
    np.testing.assert_allclose(jitted, eager, rtol=CLOSED_FORM_RTOL["float64"])
    f32 = net.kernel_fn(x.astype(jnp.float32), None, "ntk")
    assert f32.dtype == jnp.float32
    np.testing.assert_allclose(f32, eager, rtol=CLOSED_FORM_RTOL["float32"])


@pytest.mark.parametrize(
    ("build", "x_shape", "words"),
    [
        (lambda: stax.Conv(8, (3, 3)), (2, 5, 2), ("shape (2, 5, 2)", "reshape")),
        (
            lambda: stax.Conv(8, (3, 3), padding="FULL"),
            (2, 5, 5, 2),
            ("'FULL'", "CIRCULAR"),
        ),
        (lambda: stax.Conv(8, (3, 0)), (2, 5, 5, 2), ("filter_shape",)),
        (lambda: stax.Conv(8, (3, 3), strides=(1,)), (2, 5, 5, 2), ("strides",)),
        (
            lambda: stax.Conv(8, (3, 3), dimension_numbers=("NHWC", "OIHW", "NCW")),
            (2, 5, 5, 2),
            ("dimension_numbers", "NCHW"),
        ),
        (lambda: stax.AvgPool((2, 2, 2)), (2, 5, 5, 2), ("3-D window",)),
        (
            lambda: stax.serial(
                stax.Conv(8, (2, 2)), stax.Relu(), stax.MaxPool((2, 2))
            ),
            (2, 5, 5, 2),
            ("MaxPool", "monte_carlo_kernel_fn", "estimate"),
        ),
    ],
)
def test_errors_name_the_problem_and_the_fix(build, x_shape, words):
    with pytest.raises(LayerError) as info:
        build().kernel_fn(jnp.ones(x_shape), None)
    for word in words:
        assert word in str(info.value)


def test_maxpool_finite_network_runs():
    init_fn, apply_fn, _ = stax.serial(
        stax.Conv(4, (2, 2), padding="SAME"),
        stax.Relu(),
        stax.MaxPool((2, 2), strides=(2, 2), padding="SAME"),
        stax.Flatten(),
    )
    shape, params = init_fn(jax.random.PRNGKey(0), (-1, 5, 4, 1))
    out = apply_fn(params, jnp.ones((2, 5, 4, 1)))
    assert out.shape == (2, 3 * 2 * 4) and shape == (-1, 24)
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    pooled = stax.MaxPool((2, 2), strides=(2, 2))[1]((), x)
    np.testing.assert_array_equal(pooled[0, :, :, 0], [[5, 7], [13, 15]])


def _resize_matrix(n, m, method):
    """Row i: what jax.image.resize makes of the unit vector e_i."""
    return np.asarray(jax.image.resize(jnp.eye(n), (n, m), method, antialias=True))


@pytest.mark.parametrize(("method", "sizes"), [("linear", (9, 3)), ("nearest", (4, 7))])
def test_image_resize_is_r_k_rt(method, sizes, x64):
    """Resizing is linear per axis, y = x R, so the kernel is R^T K R on both
    positions of every pair; built here from resized identity matrices."""
    x1, x2 = _images(jax.random.PRNGKey(8), 3), _images(jax.random.PRNGKey(9), 2)
    base = stax.serial(stax.Conv(8, (3, 3), padding="SAME", b_std=0.1), stax.Relu())
    full = np.asarray(base.kernel_fn(x1, x2, "nngp"))  # (N1, N2, H, H', W, W')
    rh, rw = _resize_matrix(6, sizes[0], method), _resize_matrix(5, sizes[1], method)
    expected = np.einsum("ijabcd,ae,bf,cg,dh->ijefgh", full, rh, rh, rw, rw)
    net = stax.serial(base, stax.ImageResize((-1, *sizes, -1), method))
    np.testing.assert_allclose(
        net.kernel_fn(x1, x2, "nngp"),
        expected,
        rtol=CLOSED_FORM_RTOL["float64"],
        atol=1e-12,
    )


def test_maxpool_monte_carlo_estimate_matches_direct_gaussian_sampling(x64):
    """MaxPool's kernel is only estimated: nt.monte_carlo_kernel_fn over finite
    networks (512 channels) must agree, within 5 of its own standard errors, with
    the expectation under the infinite-width Gaussian pre-activations, sampled
    directly from the exact conv covariance (200k draws; its error ~1e-3).

    First-layer pre-activations are exactly Gaussian at any width and the
    readout averages independent channels, so the finite estimate is unbiased.
    """
    import nkwidgets as nt

    x = np.asarray(_images(jax.random.PRNGKey(10), 3, (4, 4, 2)))
    conv = stax.Conv(512, (2, 2), padding="SAME", W_std=1.3, b_std=0.1)
    init_fn, apply_fn, _ = stax.serial(
        conv,
        stax.Relu(),
        stax.MaxPool((2, 2), strides=(2, 2)),
        stax.Flatten(),
        stax.Dense(64),
    )
    mc = nt.monte_carlo_kernel_fn(init_fn, apply_fn, jax.random.PRNGKey(11), 64)
    est = mc.estimate(x, None, "nngp")

    # Joint covariance of (example, position) pre-activations of the conv layer;
    # AvgPool((1, 1)) is the identity that asks for every position pair.
    full = np.asarray(
        stax.serial(conv, stax.AvgPool((1, 1))).kernel_fn(x, None, "nngp")
    )
    n, h, w = 3, 4, 4
    cov = full.transpose(0, 2, 4, 1, 3, 5).reshape(n * h * w, n * h * w)
    z = np.random.default_rng(0).multivariate_normal(np.zeros(n * h * w), cov, 200_000)
    act = np.maximum(z, 0).reshape(-1, n, 2, 2, 2, 2)  # (draw, i, H/2, 2, W/2, 2)
    pooled = act.max(axis=(3, 5)).reshape(-1, n, 4)
    direct = np.einsum("sip,sjp->ij", pooled, pooled) / (pooled.shape[0] * 4)

    err = np.abs(np.asarray(est.mean) - direct)
    allowed = 5 * np.asarray(est.stderr) + 5e-3 * np.abs(direct).max()
    assert np.all(err <= allowed), (err, allowed)
