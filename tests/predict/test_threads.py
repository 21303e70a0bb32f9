"""Tests of ``nkwidgets/_predict/_threads.py``: BLAS threads follow the free cores.

The factorisations run on SciPy's OpenBLAS, whose busy-waiting threads stall
when another process holds a core; `blas_threads_for` lowers the pool to the
free cores for one factorisation and must always give the original counts back.
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from nkwidgets import predict
from nkwidgets._predict import _linalg, _threads

N = 2 * _threads.MIN_ORDER


def _blas_threads() -> list[int]:
    return [c.num_threads for c in _threads._blas_controller().lib_controllers]


def _spd(n, seed=0):
    a = np.random.RandomState(seed).randn(n, n).astype(np.float32)
    return a @ a.T / n + np.eye(n, dtype=np.float32)


@pytest.fixture
def blas():
    """The BLAS controllers; skips where there is no pool to lower.

    The counts are the libraries' defaults: holding a threadpoolctl limit here
    would make this thread the only one allowed to change them.
    """
    controllers = _threads._blas_controller().lib_controllers
    if not controllers or max(c.num_threads for c in controllers) < 2:
        pytest.skip("single-threaded BLAS: no pool to lower")
    before = _blas_threads()
    yield controllers
    assert _blas_threads() == before


def test_the_factorisations_blas_is_found():
    # jaxlib's LAPACK is SciPy's: the controller must see at least that one.
    assert _threads._blas_controller().lib_controllers, "no BLAS library found"


def test_busy_machine_lowers_threads_inside_and_restores_after(blas, monkeypatch):
    before = _blas_threads()
    monkeypatch.setattr(_threads, "free_cores", lambda: 1)
    with _threads.blas_threads_for(N):
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


def test_idle_machine_leaves_threads_alone(blas, monkeypatch):
    before = _blas_threads()
    monkeypatch.setattr(_threads, "free_cores", lambda: 1000)
    with _threads.blas_threads_for(N):
        assert _blas_threads() == before
    assert _blas_threads() == before


def test_a_users_lower_limit_is_never_raised(blas, monkeypatch):
    monkeypatch.setattr(_threads, "free_cores", lambda: 3)
    with ThreadpoolController().limit(limits=1, user_api="blas"):
        with _threads.blas_threads_for(N):
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}


def test_small_matrices_skip_the_probe(blas, monkeypatch):
    def fail():
        raise AssertionError("probed the load for a tiny matrix")

    monkeypatch.setattr(_threads, "free_cores", fail)
    with _threads.blas_threads_for(_threads.MIN_ORDER - 1):
        pass


def test_restored_after_an_exception(blas, monkeypatch):
    before = _blas_threads()
    monkeypatch.setattr(_threads, "free_cores", lambda: 1)
    with pytest.raises(RuntimeError), _threads.blas_threads_for(N):
        raise RuntimeError
    assert _blas_threads() == before


def test_concurrent_factorisations_each_get_the_limit_and_restore(blas, monkeypatch):
    # threadpoolctl lets only one thread at a time change OpenBLAS's pool and
    # silently ignores the others: a thread that lowered the pool must restore
    # it itself, and another thread's factorisation must wait its turn rather
    # than run unlimited (or restore someone else's limit).
    before = _blas_threads()
    monkeypatch.setattr(_threads, "free_cores", lambda: 1)
    seen = []
    start = threading.Barrier(4)

    def worker():
        start.wait(timeout=30)
        for _ in range(20):
            with _threads.blas_threads_for(N):
                seen.append(_blas_threads())

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert len(seen) == 80
    assert all(s == [1] * len(before) for s in seen)
    assert _blas_threads() == before


def test_nested_use_in_one_thread(blas, monkeypatch):
    before = _blas_threads()
    monkeypatch.setattr(_threads, "free_cores", lambda: 1)
    with _threads.blas_threads_for(N):
        with _threads.blas_threads_for(N):
            assert _blas_threads() == [1] * len(before)
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


@pytest.mark.parametrize(
    ("cores", "machine", "running", "own", "free"),
    [
        (2, 2, 1, 1, 2),  # idle: only the caller runs
        (2, 2, 3, 1, 1),  # two other processes on 2 cores: one thread, not zero
        (2, 2, 2, 1, 1),  # one other process
        (2, 2, 3, 3, 2),  # our own spinning workers are not contention
        (2, 2, 4, 3, 1),
        (16, 16, 11, 1, 6),
        (4, 64, 30, 1, 4),  # other tasks charged to the whole machine
    ],
)
def test_free_cores_counts_other_processes_only(
    monkeypatch, cores, machine, running, own, free
):
    monkeypatch.setattr(_threads, "_usable_cores", lambda: cores)
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: machine)
    monkeypatch.setattr(_threads, "_procs_running", lambda: running)
    monkeypatch.setattr(_threads, "_own_running_threads", lambda: own)
    assert _threads.free_cores() == free


def test_free_cores_without_proc_uses_the_load_average(monkeypatch):
    monkeypatch.setattr(_threads, "_usable_cores", lambda: 4)
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(_threads, "_procs_running", lambda: None)
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (3.2, 0.0, 0.0))
    assert _threads.free_cores() == 2


def test_free_cores_reads_this_machine():
    assert 1 <= _threads.free_cores() <= _threads._usable_cores()
    assert _threads._own_running_threads() >= 1


def _count_guards(monkeypatch, module):
    entered = []
    real = module.blas_threads_for

    def spy(n):
        entered.append(n)
        return real(n)

    monkeypatch.setattr(module, "blas_threads_for", spy)
    return entered


def test_predictors_factorise_under_the_guard(monkeypatch):
    entered = _count_guards(monkeypatch, _linalg)
    k = jnp.asarray(_spd(N))
    y = jnp.ones((N, 2), jnp.float32)
    fn = predict.gradient_descent_mse(k, y)
    fn(None, 0.0, 0.0, k)  # Cholesky and the solve
    fn(jnp.ones((3,), jnp.float32), 0.0)  # eigendecomposition
    predict.gp_inference(k, y)("nngp", k, k)  # solves of the GP posterior
    # cholesky + converged solve, eigh, gp cholesky + k^-1 y + covariance
    assert entered == [N] * 6


def test_traced_kernels_bypass_the_guard(monkeypatch):
    entered = _count_guards(monkeypatch, _linalg)
    k = jnp.asarray(_spd(N))
    y = jnp.ones((N, 2), jnp.float32)
    ts = jnp.ones((3,), jnp.float32)

    @jax.jit
    def f(k):
        return predict.gradient_descent_mse(k, y)(ts, 0.0)

    np.testing.assert_allclose(
        f(k), predict.gradient_descent_mse(k, y)(ts, 0.0), rtol=1e-4, atol=1e-5
    )
    assert entered == [N]  # the eager call only
