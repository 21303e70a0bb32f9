"""Device meshes and waves of blocks (nkwidgets/compute/_mesh.py) in an Experiment."""

from __future__ import annotations

import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.compute import DeviceCountError, Experiment, device_mesh
from nkwidgets.data import digits


def test_mesh_sizes():
    assert device_mesh(-1).size == 4
    assert device_mesh(None).size == 4
    assert device_mesh(0).size == 1
    assert device_mesh(2).size == 2
    with pytest.raises(
        DeviceCountError, match="xla_force_host_platform_device_count=8"
    ):
        device_mesh(8)


def test_experiment_on_four_devices_is_bit_identical_to_one_and_streams_every_block():
    net = stax.serial(
        stax.Dense(64, W_std=1.5, b_std=0.05), stax.Relu(), stax.Dense(10)
    )
    ds = digits(train=70, test=30)
    kw = dict(block_size=20, predict=None)  # 70 % 20 != 0: padded edge blocks
    sharded = Experiment(net, ds, **kw)
    events = []
    job = sharded.job()
    job.subscribe(events.append)
    four = job.run_here()
    one = Experiment(net, ds, devices=1, **kw).job().run_here()
    for name in ("nngp", "ntk"):
        for part in ("train_train", "test_train"):
            np.testing.assert_array_equal(
                four.kernels[name][part], one.kernels[name][part]
            )
    # Waves compute four blocks at once, yet each block is its own event.
    blocks = sharded.blocks()
    done = [e.data["block"] for e in events if e.kind == "block_done"]
    assert sorted(done, key=blocks.index) == blocks
    assert four.blocks == {"total": len(blocks), "computed": len(blocks), "reused": 0}
