"""``batch`` (nkwidgets/compute/_batching.py, public face nkwidgets/batching.py).

Every comparison runs on the 4 fake CPU devices that tests/conftest.py sets up.
"""

from __future__ import annotations

import collections

import jax
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.batching import batch
from nkwidgets.compute import BlockError, MemoryBudgetError
from nkwidgets.stax import Kernel
from tests._tolerances import BLOCKED_RTOL

# Erf keeps the comparison free of the arccos sqrt(eps) amplification, so the
# tolerance measures blocking alone.
_, _, ERF_KERNEL_FN = stax.serial(
    stax.Dense(64, W_std=1.5, b_std=0.05), stax.Erf(), stax.Dense(10, W_std=1.5)
)
_, _, RELU_KERNEL_FN = stax.serial(
    stax.Dense(64, W_std=1.5, b_std=0.05), stax.Relu(), stax.Dense(10)
)

N1, N2, BATCH = 37, 23, 10  # neither size divisible by the batch size


def _data(dtype):
    rng = np.random.RandomState(0)
    return rng.randn(N1, 5).astype(dtype), rng.randn(N2, 5).astype(dtype)


def _unblocked(kernel_fn, x1, x2, get):
    # Jitted: op-by-op dispatch of a whole network takes seconds per call.
    return jax.jit(kernel_fn, static_argnums=2)(x1, x2, get)


def _norm_rel(a, b):
    return float(
        np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b)))
    )


def test_four_devices_in_use():
    assert jax.local_device_count() == 4


@pytest.mark.parametrize(
    "get", [None, "nngp", ("nngp", "ntk"), ("ntk", "cov1", "cov2")]
)
@pytest.mark.parametrize("x2_given", [False, True], ids=["x2=None", "x2"])
def test_batched_agrees_with_unbatched(get, x2_given):
    """float32 at BLOCKED_RTOL; the output pytree (Kernel, namedtuple, array) matches."""
    x1, x2 = _data(np.float32)
    x2 = x2 if x2_given else None
    got = batch(ERF_KERNEL_FN, batch_size=BATCH)(x1, x2, get)
    want = _unblocked(ERF_KERNEL_FN, x1, x2, get)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert _norm_rel(g, w) <= BLOCKED_RTOL["float32"]
    if get is None:
        assert (
            isinstance(got, Kernel)
            and got.shape1 == want.shape1
            and got.x1_is_x2 == want.x1_is_x2
        )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sharded_equals_unsharded(dtype):
    """Four devices vs one, same blocks: identical bits; vs unblocked: BLOCKED_RTOL.

    Every block has the same padded shape and the same compiled per-device
    program, so which device (or wave) computes it cannot change a bit.
    """
    with jax.enable_x64(dtype == "float64"):
        x1, x2 = _data(dtype)
        for fn in (ERF_KERNEL_FN, RELU_KERNEL_FN):
            sharded = batch(fn, BATCH, device_count=-1)(x1, x2, ("nngp", "ntk"))
            single = batch(fn, BATCH, device_count=0)(x1, x2, ("nngp", "ntk"))
            for a, b in zip(sharded, single, strict=True):
                np.testing.assert_array_equal(a, b)
        full = _unblocked(ERF_KERNEL_FN, x1, x2, ("nngp", "ntk"))
        sharded = batch(ERF_KERNEL_FN, BATCH)(x1, x2, ("nngp", "ntk"))
        for a, b in zip(sharded, full, strict=True):
            assert a.dtype == np.dtype(dtype)
            assert _norm_rel(a, b) <= BLOCKED_RTOL[dtype]


def test_batch_size_zero_splits_rows_over_devices_and_host_storage():
    x1, x2 = _data(np.float32)
    got = batch(ERF_KERNEL_FN, 0, store_on_device=False)(x1, x2, "ntk")
    assert isinstance(got, np.ndarray)  # host memory, not a device buffer
    assert (
        _norm_rel(got, _unblocked(ERF_KERNEL_FN, x1, x2, "ntk"))
        <= BLOCKED_RTOL["float32"]
    )


def test_any_function_with_the_kernel_fn_contract():
    """Arrays in args reach every block; (for_x1, for_x2) kwargs are sliced; rng is split."""
    x1, x2 = _data(np.float32)
    params = {"w": np.arange(5, dtype=np.float32)}
    Out = collections.namedtuple("Out", ["ntk", "cov1"])
    seen_keys = []

    def f(a, b, get, params, scale=1.0, weights=None, rng=None):
        del get
        wa, wb = weights
        seen_keys.append(rng)
        k = (a * params["w"]) @ b.T * scale * wa[:, None] * wb[None, :]
        return Out(ntk=k, cov1=(a * a).sum(1))

    w1, w2 = (
        np.linspace(1, 2, N1, dtype=np.float32),
        np.linspace(2, 3, N2, dtype=np.float32),
    )
    batched = batch(f, BATCH)
    for key in (jax.random.PRNGKey(0), jax.random.key(1)):  # raw and typed keys
        for p in (params, {"w": -params["w"]}):  # new parameters, same compiled shape
            got = batched(x1, x2, "ntk", p, scale=2.0, weights=(w1, w2), rng=key)
            want = f(x1, x2, None, p, 2.0, (w1, w2))
            np.testing.assert_allclose(got.ntk, want.ntk, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got.cov1, want.cov1, rtol=1e-6)
    traced = [k for k in seen_keys if k is not None]  # references pass no rng
    assert len(traced) == 2, "one trace per key kind; new parameters reuse it"
    assert all(isinstance(k, tuple) and len(k) == 2 for k in traced)


def test_kernel_fn_error_names_the_block_and_keeps_the_message():
    def broken(a, b, get=None):
        raise ValueError("the original message")

    with pytest.raises(
        BlockError, match=r"x1\[0:10\] x x2\[0:10\].*the original message"
    ) as info:
        batch(broken, BATCH)(*_data(np.float32))
    assert isinstance(info.value.original, ValueError)


def test_big_kernel_fits_a_small_budget_by_blocking():
    """A 1000 x 1000 NNGP+NTK refused whole fits the same budget in blocks.

    float32 result: 2 x 1000 x 1000 x 4 B = 8 MB (+ a device copy); the
    unblocked XLA temporaries add tens of MB, 100 x 100 blocks well under 1 MB.
    """
    x = np.random.RandomState(1).randn(1000, 8).astype(np.float32)
    budget = 30_000_000
    with pytest.raises(MemoryBudgetError) as info:
        batch(RELU_KERNEL_FN, 1000, memory_budget=budget)(x, None, ("nngp", "ntk"))
    error = info.value
    assert error.estimate > budget and error.fitting_block_size is not None
    message = str(error)
    assert "MB" in message and f"batch_size = {error.fitting_block_size}" in message
    k = batch(RELU_KERNEL_FN, error.fitting_block_size, memory_budget=budget)(
        x, None, ("nngp", "ntk")
    )
    assert k.ntk.shape == (1000, 1000) and np.all(np.isfinite(np.asarray(k.ntk)))


def test_kernel_input_is_passed_through():
    k_in = Kernel(nngp=np.ones((3, 3)), ntk=None, cov1=np.ones(3), cov2=None)
    calls = []

    def kernel_fn(k, x2=None, get=None):
        calls.append(k)
        return k

    assert batch(kernel_fn, BATCH)(k_in) is k_in and calls == [k_in]


_, _, CNN_KERNEL_FN = stax.serial(
    stax.Conv(8, (3, 3), padding="SAME"),
    stax.Erf(),
    stax.Conv(8, (3, 3), padding="SAME"),
    stax.Erf(),
    stax.GlobalAvgPool(),
    stax.Dense(1),
)


def test_auto_batch_size_picks_blocks_that_fit_the_budget():
    """``batch_size='auto'``: a CNN-GAP kernel whose whole 48 x 48 block is over
    the budget runs in smaller blocks, with the same values."""
    x = np.random.RandomState(2).randn(48, 6, 6, 1).astype(np.float32)
    budget = (
        12_000_000  # the whole (48, 48, 6, 6, 6, 6) float32 block is ~10 MB per array
    )
    with pytest.raises(MemoryBudgetError):
        batch(CNN_KERNEL_FN, 48, device_count=0, memory_budget=budget)(x, None, "ntk")
    auto = batch(CNN_KERNEL_FN, "auto", device_count=0, memory_budget=budget)
    k = auto(x, None, "ntk")
    b1, b2 = auto.block_size
    assert b1 == b2 < 48
    reference = _unblocked(CNN_KERNEL_FN, x, None, "ntk")
    assert _norm_rel(k, reference) < BLOCKED_RTOL["float32"]


def test_auto_batch_size_is_chosen_once_per_signature(monkeypatch):
    """A repeat call with the same shapes reuses the sizes 'auto' chose, with
    no probe compile; other shapes search again."""
    from nkwidgets.compute import _mesh

    compiles = []
    compile_block = _mesh.WaveRunner.compile

    def counting(self, *args, **kwargs):
        compiles.append(1)
        return compile_block(self, *args, **kwargs)

    monkeypatch.setattr(_mesh.WaveRunner, "compile", counting)
    x = np.random.RandomState(3).randn(30, 6, 6, 1).astype(np.float32)
    auto = batch(CNN_KERNEL_FN, "auto", device_count=0, memory_budget=12_000_000)
    first = auto(x, None, "ntk")
    assert compiles
    compiles.clear()
    again = auto(x[::-1].copy(), None, "ntk")
    assert compiles == []
    np.testing.assert_allclose(
        np.asarray(again), np.asarray(first)[::-1, ::-1], rtol=1e-5, atol=1e-6
    )
    auto(x[:20], None, "ntk")
    assert compiles


def test_symmetric_kernel_runs_only_blocks_on_and_above_the_diagonal(x64):
    x1, x2 = _data(np.float64)
    blocks = -(-N1 // BATCH)  # 4 row blocks of 10
    fn = batch(ERF_KERNEL_FN, BATCH, device_count=0)
    k = fn(x1, None, ("nngp", "ntk"))
    assert fn.blocks_run == blocks * (blocks + 1) // 2
    ref = _unblocked(ERF_KERNEL_FN, x1, None, ("nngp", "ntk"))
    assert _norm_rel(k.ntk, ref.ntk) < BLOCKED_RTOL["float64"]
    np.testing.assert_array_equal(np.asarray(k.ntk), np.asarray(k.ntk).T)
    fn(x1, x2, "nngp")  # two different inputs: every block
    assert fn.blocks_run == blocks * -(-N2 // BATCH)
