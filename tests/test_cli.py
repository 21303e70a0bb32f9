"""The ``nk`` command (nkwidgets/cli.py) and the spec settings it reads.

Error cases call ``main()`` in this process (fast); the kill-and-resume test
runs the real command in a subprocess and SIGKILLs it mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nkwidgets.cli import main
from nkwidgets.spec import SpecError, parse

REPO = Path(__file__).resolve().parents[1]

# Many tiny blocks (444 of 5 x 5, ~5 ms each) so a kill lands mid-run.
MANY_BLOCKS = """\
net = serial(Dense(64, W_std=1.5, b_std=0.05), Relu(), Dense(10))
data = digits(train=120, test=30)
compute = nngp, ntk
predict = None
block_size = 5
"""

SMALL = """\
net = serial(Dense(64, W_std=1.5, b_std=0.05), Relu(), Dense(10))
data = digits(train=60, test=20)
compute = nngp, ntk
predict = gradient_descent_mse(t=[1, 100, inf])
block_size = 25
"""


def _nk(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "nkwidgets.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_then_rerun_resumes_bit_identically(tmp_path):
    spec = tmp_path / "e.nk"
    spec.write_text(MANY_BLOCKS)
    cache = tmp_path / "cache"
    args = (
        "run",
        str(spec),
        "--cache",
        str(cache),
        "--devices",
        "1",
        "--json",
        "--quiet",
    )
    total = len(parse(MANY_BLOCKS).to_experiment().blocks())

    proc = _nk(*args, cwd=tmp_path)
    deadline = time.monotonic() + 120
    try:
        while len(list(cache.glob("*/*.nkb"))) < 20:
            assert proc.poll() is None, (
                "finished before it could be killed: " + proc.stderr.read()[-2000:]
            )
            assert time.monotonic() < deadline, "no blocks written within 120 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    files = sorted(cache.glob("*/*.nkb"))
    assert 20 <= len(files) < total
    files[0].write_bytes(files[0].read_bytes()[:-7])  # a torn block must be recomputed
    intact = len(files) - 1

    rerun = _nk(*args, cwd=tmp_path)
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["total"] == total
    assert summary["reused"] == intact and summary["computed"] == total - intact

    clean = parse(MANY_BLOCKS).to_experiment().job().run_here()  # 4 devices, no cache
    with np.load(tmp_path / "e.npz") as results:
        for name in ("nngp", "ntk"):
            for part in ("train_train", "test_train"):
                np.testing.assert_array_equal(
                    results[f"kernels/{name}/{part}"], clean.kernels[name][part]
                )


def _one_line_error(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    assert code != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nk: error:"), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_missing_file(tmp_path, capsys):
    line = _one_line_error(capsys, ["run", str(tmp_path / "nope.nk")])
    assert "no such file" in line


def test_spec_error_names_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.nk"
    bad.write_text("net = serial(Dense(10), Relux())\n")
    line = _one_line_error(capsys, ["run", str(bad)])
    assert "SpecError" in line and "line 1, column 25" in line and "Relu" in line


def test_over_budget_is_refused_with_a_fitting_block_size(tmp_path, capsys):
    spec = tmp_path / "e.nk"
    spec.write_text(SMALL.replace("block_size = 25", "block_size = 60"))
    line = _one_line_error(
        capsys, ["run", str(spec), "--budget", "60kB", "--cache", str(tmp_path / "c")]
    )
    assert "MemoryBudgetError" in line and "60.0 kB" in line and "block_size = " in line
    assert not list((tmp_path / "c").glob("*/*.nkb")), "no block may run"


def test_bad_budget_flag(tmp_path, capsys):
    spec = tmp_path / "e.nk"
    spec.write_text(SMALL)
    assert "--budget" in _one_line_error(capsys, ["run", str(spec), "--budget", "lots"])


def test_run_writes_every_array_and_metadata(tmp_path, capsys):
    spec = tmp_path / "e.nk"
    spec.write_text(SMALL)
    out = tmp_path / "out" / "r.npz"
    assert main(["run", str(spec), "--out", str(out), "--devices", "2", "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert (
        "computed 9 of 9 blocks, reused 0 from cache" in stdout
        and "ntk test accuracy" in stdout
    )
    with np.load(out) as r:
        assert r["kernels/ntk/train_train"].shape == (60, 60)
        assert r["kernels/nngp/test_train"].shape == (20, 60)
        assert r["predictions/ntk/fx_test"].shape == (3, 20, 10)
        assert {"t", "accuracy", "mse"} <= {
            k.split("/")[-1] for k in r.files if k.startswith("predictions/nngp")
        }
        metadata = json.loads(str(r["metadata"]))
    assert metadata["spec"]["block_size"] == 25 and metadata["blocks"]["total"] == 9
    assert metadata["block_size"] == 25
    assert metadata["dtype"] == "float32" and metadata["nkwidgets"]


def test_estimate_prints_the_plan(tmp_path, capsys):
    spec = tmp_path / "e.nk"
    spec.write_text(SMALL)
    assert main(["estimate", str(spec)]) == 0
    out = capsys.readouterr().out
    for word in (
        "blocks:",
        "per block:",
        "result arrays:",
        "peak",
        "budget:",
        "fits",
        "time:",
    ):
        assert word in out
    assert main(["estimate", str(spec), "--budget", "1kB", "--json"]) == 1
    plan = json.loads(capsys.readouterr().out)
    assert plan["blocks"] == 9 and not plan["fits"] and plan["bytes_per_block"] > 0


def test_spec_compute_settings_round_trip():
    text = SMALL + 'devices = 2\ncache = "nk-cache"\nbudget = "8GB"\n'
    spec = parse(text)
    assert (spec.devices, spec.cache, spec.budget) == (2, "nk-cache", "8GB")
    assert parse(spec.to_text()) == spec
    exp = spec.to_experiment()
    assert (exp.devices, exp.cache_dir, exp.budget) == (2, "nk-cache", "8GB")
    assert exp.description is not None


@pytest.mark.parametrize(
    "line,col,words",
    [
        ("devices = 0", 11, ["devices", "positive"]),
        ("cache = 3", 9, ["cache", "string"]),
        ('budget = "8 parsecs"', 10, ["budget", "8GB"]),
    ],
)
def test_spec_compute_settings_errors(line, col, words):
    with pytest.raises(SpecError) as info:
        parse("net = Dense(10)\n" + line + "\n")
    assert (info.value.line, info.value.col) == (2, col)
    for word in words:
        assert word in str(info.value)
