"""Jobs and experiments (nkwidgets/compute/_job.py, _experiment.py, _blocks.py)."""

from __future__ import annotations

import ast
import pathlib
import threading
import time

import jax
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.compute import (
    Experiment,
    Job,
    JobCancelled,
    PredictSettings,
    plan_blocks,
)
from nkwidgets.compute._job import EVENT_KINDS
from nkwidgets.data import digits


def test_plan_covers_every_entry_once():
    blocks = plan_blocks(n_train=7, n_test=5, block_size=3)
    train = np.zeros((7, 7), int)
    test = np.zeros((5, 7), int)
    for b in blocks:
        target = train if b.target == "train_train" else test
        target[b.row0 : b.row0 + b.rows, b.col0 : b.col0 + b.cols] += 1
        if b.mirrored:
            target[b.col0 : b.col0 + b.cols, b.row0 : b.row0 + b.rows] += 1
    assert np.all(train == 1) and np.all(test == 1)


def _experiment(block_size=50, **kw):
    net = stax.serial(
        stax.Dense(64, W_std=1.5, b_std=0.05), stax.Relu(), stax.Dense(10)
    )
    return Experiment(net, digits(train=150, test=60), block_size=block_size, **kw)


def test_blocked_kernel_equals_one_shot_kernel(x64):
    """float64, rtol 1e-7: blocking and padding change nothing but rounding.

    The arc-cosine kernel turns a rounding error eps in a correlation of 1 (an
    input with itself) into an angle error sqrt(2 eps), ~2e-8 in float64 and
    ~5e-4 in float32, so equality is tested in float64 at a few sqrt(eps).
    """
    exp = _experiment(block_size=40, predict=None, dtype="float64")  # 150 % 40 != 0
    result = exp.job().run_here()
    ds = exp.dataset
    x_train, x_test = ds.x_train.astype(np.float64), ds.x_test.astype(np.float64)
    one_shot = jax.jit(
        exp.network.kernel_fn, static_argnums=2
    )  # eager dispatch is slow
    full = one_shot(x_train, None, ("nngp", "ntk"))
    cross = one_shot(x_test, x_train, ("nngp", "ntk"))
    for name in ("nngp", "ntk"):
        got = result.kernels[name]
        assert got["train_train"].dtype == np.float64
        np.testing.assert_allclose(got["train_train"], getattr(full, name), rtol=1e-7)
        np.testing.assert_allclose(got["test_train"], getattr(cross, name), rtol=1e-7)


def test_events_in_order_and_result():
    kinds = []
    job = _experiment().job()
    job.subscribe(lambda e: kinds.append(e.kind))
    job.start()
    result = job.result(timeout=120)
    n_blocks = len(_experiment().blocks())
    assert kinds[0] == "started" and kinds[-1] == "done"
    assert kinds.count("block_done") == n_blocks == kinds.count("progress")
    assert kinds.index("prediction") > max(
        i for i, k in enumerate(kinds) if k == "block_done"
    )
    assert set(result.predictions) == {"nngp", "ntk"}
    assert set(kinds) <= set(EVENT_KINDS)


def test_cancel_stops_after_current_block_and_thread_is_reusable():
    gate = threading.Event()
    blocks_seen = []

    def on_event(e):
        if e.kind == "block_done":
            blocks_seen.append(e)
            gate.set()
            time.sleep(0.2)  # keep the job inside this block while we cancel

    job = _experiment(block_size=25).job()
    job.subscribe(on_event)
    job.start()
    assert gate.wait(60)
    job.cancel()
    with pytest.raises(JobCancelled):
        job.result(timeout=30)
    assert job.status == "cancelled"
    assert len(blocks_seen) <= 2
    # A fresh job runs fine afterwards.
    assert _experiment(predict=PredictSettings(t=(1.0,))).job().run_here().predictions


def test_failure_surfaces_original_message_and_subscriber_errors_do_not_kill_job():
    def work(ctx):
        raise ValueError("the original message")

    job = Job(work)
    job.subscribe(lambda e: 1 / 0)
    job.start()
    with pytest.raises(ValueError, match="the original message"):
        job.result(timeout=10)
    assert job.status == "failed"


def test_nan_block_is_reported_with_fix():
    from nkwidgets.errors import NKError

    exp = _experiment(predict=None)
    bad = exp.dataset.x_train.copy()
    bad[3, 2] = np.inf
    exp.dataset = type(exp.dataset)(**{**exp.dataset.__dict__, "x_train": bad})
    with pytest.raises(NKError, match="NaN or inf"):
        exp.job().run_here()


def _slow_network(seconds_per_block):
    """A real network whose every block also sleeps, so block time is known."""
    import jax

    from nkwidgets.kernels._layer import Layer

    init_fn, apply_fn, kernel_fn = stax.serial(
        stax.Dense(64), stax.Relu(), stax.Dense(10)
    )

    def sleep(x):
        time.sleep(seconds_per_block)
        return np.zeros((), x.dtype)

    def slow_kernel_fn(x1, x2=None, get=None):
        pause = jax.pure_callback(
            sleep,
            jax.ShapeDtypeStruct((), x1.dtype),
            x1[0, 0],
            vmap_method="sequential",
        )
        return kernel_fn(x1 + pause, x2, get)

    return Layer(init_fn, apply_fn, slow_kernel_fn)


def test_cancel_returns_within_one_block_and_a_new_job_works():
    """One device, so a wave is one block; each block takes >= 0.25 s."""
    block_seconds = 0.25
    exp = Experiment(
        _slow_network(block_seconds),
        digits(train=60, test=20),
        block_size=10,
        predict=None,
        devices=1,
    )
    first_block = threading.Event()
    job = exp.job()
    job.subscribe(lambda e: e.kind == "block_done" and first_block.set())
    job.start()
    assert first_block.wait(60)
    t0 = time.monotonic()
    job.cancel()
    assert time.monotonic() - t0 < 0.05, "cancel() itself returns at once"
    with pytest.raises(JobCancelled):
        job.result(timeout=30)
    latency = time.monotonic() - t0
    # The block running at cancel time finishes (<= one block), plus slack
    # for a loaded 2-core machine; the whole job would take 27 blocks.
    assert latency < block_seconds + 0.6, latency
    assert job.status == "cancelled"
    assert _experiment(predict=None).job().run_here().blocks["computed"] > 0


def test_kernel_fn_that_raises_names_the_block():
    from nkwidgets.compute import BlockError
    from nkwidgets.kernels._layer import Layer

    def broken(x1, x2=None, get=None):
        raise ValueError("the original message")

    exp = Experiment(
        Layer(None, None, broken),
        digits(train=30, test=10),
        block_size=10,
        predict=None,
    )
    with pytest.raises(
        BlockError, match=r"train_train\[0:10, 0:10\].*ValueError: the original message"
    ):
        exp.job().run_here()


_PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "nkwidgets"


def _event_kinds_in_source() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Kinds the package emits and kinds it tests for, each with where.

    Emitted: the first argument of every call ``emit(...)``/``x.emit(...)``
    (a ``JobContext``'s or a duck-typed one) and ``Event(...)``. Tested for:
    the strings compared with ``event.kind`` (``==``, ``!=``, ``in``).
    """
    emitted: dict[str, list[str]] = {}
    tested: dict[str, list[str]] = {}
    for path in sorted(_PACKAGE.rglob("*.py")):
        where = str(path.relative_to(_PACKAGE.parent))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                is_emit = (isinstance(func, ast.Name) and func.id == "emit") or (
                    isinstance(func, ast.Attribute) and func.attr == "emit"
                )
                is_event = isinstance(func, ast.Name) and func.id == "Event"
                if not (is_emit or is_event) or not node.args:
                    continue
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    emitted.setdefault(arg.value, []).append(f"{where}:{node.lineno}")
                else:
                    # Only JobContext.emit may pass a kind through: anywhere
                    # else a computed kind would escape this check.
                    assert where == "nkwidgets/compute/_job.py", (
                        f"{where}:{node.lineno} emits a kind that is not a "
                        "string literal"
                    )
            elif isinstance(node, ast.Compare):
                left = node.left
                if not (
                    isinstance(left, ast.Attribute)
                    and left.attr == "kind"
                    and isinstance(left.value, ast.Name)
                    and left.value.id == "event"
                ):
                    continue
                for comparator in node.comparators:
                    values = (
                        comparator.elts
                        if isinstance(comparator, ast.Tuple | ast.List | ast.Set)
                        else [comparator]
                    )
                    for value in values:
                        if isinstance(value, ast.Constant) and isinstance(
                            value.value, str
                        ):
                            tested.setdefault(value.value, []).append(
                                f"{where}:{node.lineno}"
                            )
    return emitted, tested


def test_event_kinds_lists_every_kind_the_package_emits_and_no_other():
    emitted, tested = _event_kinds_in_source()
    # The scan must see the producers at all (a broken scan passes vacuously).
    assert {"block_done", "width_done", "sweep_done", "kip_step", "done"} <= set(
        emitted
    )
    missing = {kind: at for kind, at in emitted.items() if kind not in EVENT_KINDS}
    assert not missing, f"emitted but not in EVENT_KINDS: {missing}"
    unknown = {kind: at for kind, at in tested.items() if kind not in EVENT_KINDS}
    assert not unknown, f"subscribers test for kinds no one emits: {unknown}"
    stale = set(EVENT_KINDS) - set(emitted)
    assert not stale, f"in EVENT_KINDS but emitted nowhere: {stale}"
    assert len(set(EVENT_KINDS)) == len(EVENT_KINDS)


def test_producer_event_lists_are_within_event_kinds():
    from nkwidgets._phase._run import SWEEP_EVENT_KINDS as phase_kinds
    from nkwidgets.convergence import SWEEP_EVENT_KINDS as convergence_kinds

    assert set(phase_kinds) <= set(EVENT_KINDS)
    assert set(convergence_kinds) <= set(EVENT_KINDS)
