"""Time and peak memory of a CNN-GAP NTK against Neural Tangents 0.6.5.

Workload (issue #5): ``serial(Conv(C, (3, 3), padding='SAME'), Relu(),
Conv(C, (3, 3), padding='SAME'), Relu(), GlobalAvgPool(), Dense(10))``, the
NTK of ``n x n`` sklearn digits as 8x8x1 images, float32.

Run from the repo root with the project venv::

    .venv/bin/python bench/bench_conv.py                 # n = 100 and 200, both sides
    .venv/bin/python bench/bench_conv.py --n 1000 --sides ours --budget 2GB

Each side runs in a fresh child process (ours in this venv, NT in the
reference venv of ``bench/nt_reference.py``), so its peak resident memory
(``ru_maxrss``: everything the process held, JAX runtime and compilation
included) belongs to that computation alone. Inside a child: one warm-up call
(compilation, excluded from the time), then one timed call on the same inputs.
NT runs ``jax.jit(kernel_fn)`` on the whole batch, its documented use; ours
runs ``nkwidgets.batch(kernel_fn, batch_size='auto', memory_budget=...)``,
which picks the largest blocks that fit the budget and, for ``x2=None``, runs
only the blocks on and above the diagonal. Prints a table and writes
``bench/results/conv.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

ARCH = (
    "serial(Conv(32, (3, 3), padding='SAME'), Relu(), "
    "Conv(32, (3, 3), padding='SAME'), Relu(), GlobalAvgPool(), Dense(10))"
)
DEFAULT_BUDGET = "1GB"


def _child(side: str, data: str, budget: str) -> None:
    """Run in a fresh process: warm up, time one call, report JSON on stdout."""
    import jax

    x = np.load(data)
    if side == "nt":
        from neural_tangents import stax

        _, _, kernel_fn = eval(ARCH, vars(stax))  # noqa: S307 - our own constant
        fn = jax.jit(kernel_fn, static_argnames="get")

        def run() -> np.ndarray:
            return np.asarray(fn(x, None, get="ntk"))
    else:
        sys.path.insert(0, str(REPO))
        from nkwidgets import stax
        from nkwidgets.batching import batch

        _, _, kernel_fn = eval(ARCH, vars(stax))  # noqa: S307 - our own constant
        fn = batch(kernel_fn, batch_size="auto", memory_budget=budget, device_count=0)

        def run() -> np.ndarray:
            return np.asarray(fn(x, None, "ntk"))

    t0 = time.perf_counter()
    run()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(data + f".{side}.npy", out)
    print(json.dumps({"seconds": seconds, "warmup_seconds": warm, "peak_bytes": peak}))


def _digits(n: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    x = load_digits().data[:n].astype(np.float32)
    x = (x - x.mean()) / x.std()
    return x.reshape(n, 8, 8, 1)


def _run_side(side: str, data: str, budget: str) -> dict:
    if side == "nt":
        sys.path.insert(0, str(HERE))
        import nt_reference

        nt_reference.ensure_nt_venv()
        python = str(nt_reference.nt_python())
    else:
        python = sys.executable
    cmd = [
        python,
        str(Path(__file__)),
        "--child",
        side,
        "--data",
        data,
        "--budget",
        budget,
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="*", default=[100, 200])
    parser.add_argument("--sides", nargs="*", default=["ours", "nt"])
    parser.add_argument("--budget", default=DEFAULT_BUDGET)
    parser.add_argument("--child")
    parser.add_argument("--data")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.data, args.budget)
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            data = str(Path(tmp) / f"digits{n}.npy")
            np.save(data, _digits(n))
            row: dict = {"n": n, "budget": args.budget}
            for side in args.sides:
                row[side] = _run_side(side, data, args.budget)
                print(f"  n={n} {side}: {row[side]}", flush=True)
            if {"ours", "nt"} <= set(args.sides):
                a, b = np.load(data + ".ours.npy"), np.load(data + ".nt.npy")
                row["rel_err_vs_nt"] = float(np.abs(a - b).max() / np.abs(b).max())
                row["time_ratio"] = row["ours"]["seconds"] / row["nt"]["seconds"]
                row["memory_ratio"] = (
                    row["ours"]["peak_bytes"] / row["nt"]["peak_bytes"]
                )
            rows.append(row)

    gib = 2.0**30
    print(f"\nCNN-GAP NTK, digits 8x8x1, float32; ours: batch(auto, {args.budget})")
    print(
        f"{'n':>6} {'side':>5} {'time s':>9} {'peak GiB':>9} {'t/NT':>7} {'mem/NT':>7}"
    )
    for row in rows:
        for side in args.sides:
            r = row[side]
            ratio_t = (
                f"{row['time_ratio']:.3f}"
                if side == "ours" and "time_ratio" in row
                else ""
            )
            ratio_m = (
                f"{row['memory_ratio']:.3f}"
                if side == "ours" and "memory_ratio" in row
                else ""
            )
            print(
                f"{row['n']:>6} {side:>5} {r['seconds']:>9.2f} {r['peak_bytes'] / gib:>9.2f} "
                f"{ratio_t:>7} {ratio_m:>7}"
            )
        if "rel_err_vs_nt" in row:
            print(f"{'':>6} max |ours - NT| / max |NT| = {row['rel_err_vs_nt']:.1e}")
    out = HERE / "results" / "conv.json"
    out.parent.mkdir(exist_ok=True)
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}",
        "arch": ARCH,
        "rows": rows,
    }
    existing = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps(existing + [record], indent=1))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
