"""The on-disk block cache (nkwidgets/compute/_cache.py) and resuming Experiments."""

from __future__ import annotations

import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.compute import BlockCache, CacheError, Experiment, JobCancelled
from nkwidgets.data import digits


def _arrays():
    rng = np.random.RandomState(0)
    return {"nngp": rng.randn(5, 7).astype(np.float32), "ntk": rng.randn(5, 7)}


def test_round_trip_and_key_separates_computations(tmp_path):
    cache = BlockCache(tmp_path, {"a": 1})
    cache.store("b", _arrays())
    got = cache.load("b")
    for name, value in _arrays().items():
        np.testing.assert_array_equal(got[name], value)
        assert got[name].dtype == value.dtype
    assert BlockCache(tmp_path, {"a": 2}).load("b") is None
    assert BlockCache(tmp_path, {"a": 1}).load("b") is not None
    assert not list(cache.directory.glob(".*.tmp")), "no temp file survives a write"
    assert (cache.directory / "key.json").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_damaged_block_is_never_trusted(tmp_path, damage):
    cache = BlockCache(tmp_path, {"a": 1})
    cache.store("b", _arrays())
    path = cache.path("b")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 9]
    elif damage == "flip":
        data[-3] ^= 0xFF
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"NKBLOCK1" + b"\xff" * 40)
    path.write_bytes(bytes(data))
    assert cache.load("b") is None


def _experiment(cache_dir, **kw):
    net = stax.serial(
        stax.Dense(64, W_std=1.5, b_std=0.05), stax.Relu(), stax.Dense(10)
    )
    return Experiment(
        net,
        digits(train=60, test=20),
        block_size=15,
        predict=None,
        cache_dir=str(cache_dir),
        description="Dense(64)-Relu-Dense(10)",
        **kw,
    )


def test_resume_computes_only_missing_blocks_bit_identically(tmp_path):
    clean = _experiment(tmp_path / "clean").job().run_here()
    exp = _experiment(tmp_path / "c")
    first = exp.job().run_here()
    total = len(exp.blocks())
    assert first.blocks == {"total": total, "computed": total, "reused": 0}
    files = sorted((tmp_path / "c").glob("*/*.nkb"))
    assert len(files) == total
    for f in files[:3]:
        f.unlink()  # as if killed before these were written
    files[3].write_bytes(files[3].read_bytes()[:-5])  # and one torn write
    again = exp.job().run_here()
    assert again.blocks == {"total": total, "computed": 4, "reused": total - 4}
    for name in ("nngp", "ntk"):
        for part in ("train_train", "test_train"):
            np.testing.assert_array_equal(
                again.kernels[name][part], clean.kernels[name][part]
            )
    # A different dtype is a different computation: nothing is reused.
    other = _experiment(tmp_path / "c", dtype="float64")
    assert other.cache_facts() != exp.cache_facts()


def test_cancelled_job_keeps_its_finished_blocks(tmp_path):
    exp = _experiment(tmp_path, devices=1)
    job = exp.job()
    seen = []

    def on_event(e):
        if e.kind == "block_done":
            seen.append(e.data["block"])
            if len(seen) == 3:
                job.cancel()

    job.subscribe(on_event)
    with pytest.raises(JobCancelled) as info:
        job.run_here()
    partial = info.value.partial
    assert partial.blocks["computed"] == 3
    b = seen[0]
    assert np.all(
        np.isfinite(
            partial.kernels["ntk"][b.target][
                b.row0 : b.row0 + b.rows, b.col0 : b.col0 + b.cols
            ]
        )
    )
    assert len(list(tmp_path.glob("*/*.nkb"))) == 3
    assert exp.job().run_here().blocks["reused"] == 3


def test_cache_needs_a_network_description(tmp_path):
    exp = _experiment(tmp_path)
    exp.description = None
    with pytest.raises(CacheError, match="description"):
        exp.job().run_here()
