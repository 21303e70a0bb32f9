"""Two processes under ``jax.distributed`` on localhost (nkwidgets/compute/_distributed.py).

Each process runs ``nk run`` with 2 CPU devices (4 in the global mesh) and
gloo collectives; process 0 writes the results, which must equal a
single-process run bit for bit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from nkwidgets.spec import parse

REPO = Path(__file__).resolve().parents[2]
SPEC = """\
net = serial(Dense(64, W_std=1.5, b_std=0.05), Relu(), Dense(10))
data = digits(train=50, test=20)
compute = nngp, ntk
predict = None
block_size = 10
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    spec_file = tmp_path / "e.nk"
    spec_file.write_text(SPEC)
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nkwidgets.cli",
                "run",
                str(spec_file),
                "--json",
                "--quiet",
                "--out",
                str(tmp_path / f"p{i}.npz"),
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=150)
            assert p.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    total = outputs[0]["total"]
    assert [o["process"] for o in outputs] == [0, 1]
    assert all(o["computed"] == total for o in outputs)
    # Deterministic split: each process fed its own devices, and all blocks ran once.
    shares = [o["computed_here"] for o in outputs]
    assert sum(shares) == total and min(shares) > 0
    assert not (tmp_path / "p1.npz").exists(), "only process 0 writes results"

    single = parse(SPEC).to_experiment().job().run_here()
    with np.load(tmp_path / "p0.npz") as results:
        metadata = json.loads(str(results["metadata"]))
        assert metadata["processes"] == 2 and metadata["devices"] == 4
        for name in ("nngp", "ntk"):
            for part in ("train_train", "test_train"):
                np.testing.assert_array_equal(
                    results[f"kernels/{name}/{part}"], single.kernels[name][part]
                )
