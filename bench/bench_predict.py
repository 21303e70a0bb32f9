"""Time ``nkwidgets.predict.gradient_descent_mse`` against Neural Tangents 0.6.5.

Run from the repo root with the project venv::

    .venv/bin/python bench/bench_predict.py
    .venv/bin/python bench/bench_predict.py --repeats 11 --only ours

The problem: 1000 training and 500 test digits (sklearn), 10 one-hot classes,
float32, the NTK of a one-hidden-layer ReLU network (closed form, computed once
in NumPy and handed to both sides), predictions at 100 training times.

Cases, each timed identically in both processes (``_TIMER``): one warm-up call
(compilation, NT's op-by-op caches) excluded, then ``repeats`` calls each ended
by ``block_until_ready``; the two sides alternate for ``rounds`` rounds and the
median is over every timed call of a side:

* ``factory_and_predict_t100``: build ``predict_fn`` and predict train and test
  outputs at 100 times: the eigendecomposition is included, as a user pays it.
  The headline ours / NT ratio.
* ``factory_and_predict_t1``: the same at one time. Ours(t100) / ours(t1) < 2
  shows the eigendecomposition is shared by all times.
* ``factory_and_predict_tnone``: ``t=None``, kernel ridge regression (a
  Cholesky solve on both sides, no eigendecomposition).
* ``predict_t100`` / ``predict_t1``: calls of an existing ``predict_fn`` (NT
  caches its eigendecomposition after the first call, ours computes it in the
  factory): the cost per batch of times.

Under CPU contention the multi-threaded OpenBLAS behind both sides' ``eigh``
stalls; ours lowers its BLAS threads to the free cores around each
factorisation (``nkwidgets/_predict/_threads.py``), NT keeps its defaults.
``--blas-threads`` pins both sides instead.

Ours runs in this process; NT in a subprocess of the reference venv
(``bench/nt_reference.py``, built on first use). Shared machines move timings
by tens of percent: compare only numbers from one invocation. Writes the full
record to ``bench/results/predict.json`` (git-ignored; ``--out`` changes it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # nt_reference sits beside this script
sys.path.insert(1, str(REPO))  # benchmark the checkout, installed or not

import nt_reference  # noqa: E402

N_TRAIN, N_TEST, N_TIMES = 1000, 500, 100
CASES = (
    "factory_and_predict_t100",
    "factory_and_predict_t1",
    "factory_and_predict_tnone",
    "predict_t100",
    "predict_t1",
)

# Executed verbatim in both processes, with `predict` bound to each side's
# module, so the two sides are timed by the same code.
_TIMER = r"""
import time as _time
import jax as _jax


def _time_calls(fn, repeats):
    t0 = _time.perf_counter()
    out = _jax.block_until_ready(fn())
    first = _time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = _time.perf_counter()
        out = _jax.block_until_ready(fn())
        runs.append(_time.perf_counter() - t0)
    return {"median_s": sorted(runs)[len(runs) // 2], "runs_s": runs, "first_call_s": first}, out


def run_cases(predict, k_dd, k_td, y, f0, g0, ts, repeats):
    t1 = ts[N_TIMES // 2]
    results, outputs = {}, {}
    calls = {
        "factory_and_predict_t100": lambda: predict.gradient_descent_mse(k_dd, y)(ts, f0, g0, k_td),
        "factory_and_predict_t1": lambda: predict.gradient_descent_mse(k_dd, y)(t1, f0, g0, k_td),
        "factory_and_predict_tnone": lambda: predict.gradient_descent_mse(k_dd, y)(None, f0, g0, k_td),
    }
    fn = predict.gradient_descent_mse(k_dd, y)
    calls["predict_t100"] = lambda: fn(ts, f0, g0, k_td)
    calls["predict_t1"] = lambda: fn(t1, f0, g0, k_td)
    for name, call in calls.items():
        results[name], outputs[name] = _time_calls(call, repeats)
    return results, outputs["factory_and_predict_t100"]
"""


def make_problem() -> dict[str, np.ndarray]:
    """Digits, their one-hidden-layer ReLU NTK (float64 maths, float32 out), times."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data[: N_TRAIN + N_TEST].astype(np.float64)
    std = x.std(0)
    # Border pixels are constant; leave them at 0 instead of dividing by zero.
    x = (x - x.mean(0)) / np.where(std > 0, std, 1.0)
    labels = digits.target[: N_TRAIN + N_TEST]
    # NTK of Dense(W_std=1.5, b_std=0.05) -> Relu -> Dense(W_std=1.5, b_std=0.05),
    # arc-cosine closed form (Cho & Saul 2009).
    w2, b2 = 1.5**2, 0.05**2
    s = w2 * x @ x.T / x.shape[1] + b2
    d = np.sqrt(np.diag(s))
    angle = np.arccos(np.clip(s / np.outer(d, d), -1.0, 1.0))
    nngp = (
        w2
        * np.outer(d, d)
        * (np.sin(angle) + (np.pi - angle) * np.cos(angle))
        / (2 * np.pi)
        + b2
    )
    ntk = w2 * s * (np.pi - angle) / (2 * np.pi) + nngp
    rng = np.random.RandomState(0)
    return {
        "k_dd": ntk[:N_TRAIN, :N_TRAIN].astype(np.float32),
        "k_td": ntk[N_TRAIN:, :N_TRAIN].astype(np.float32),
        "y": np.eye(10, dtype=np.float32)[labels[:N_TRAIN]],
        "f0": (0.1 * rng.randn(N_TRAIN, 10)).astype(np.float32),
        "g0": (0.1 * rng.randn(N_TEST, 10)).astype(np.float32),
        "ts": np.linspace(0.0, 2e4, N_TIMES).astype(np.float32),
    }


def run_ours(
    problem: dict, repeats: int, blas_threads: int | None = None
) -> tuple[dict, np.ndarray]:
    if blas_threads is not None:
        # OpenBLAS is already loaded here (numpy, scipy for jaxlib's LAPACK), so
        # its pool is resized in place; the NT side gets the environment variable.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(blas_threads, user_api="blas"):
            return run_ours(problem, repeats)
    import jax

    from nkwidgets import predict

    ns = {"N_TIMES": N_TIMES}
    exec(_TIMER, ns)
    args = {k: jax.numpy.asarray(v) for k, v in problem.items()}
    results, (_, fx_test) = ns["run_cases"](predict, **args, repeats=repeats)
    for r in results.values():
        r["jax"] = jax.__version__
    return results, np.asarray(fx_test)


_NT_SNIPPET = """
import jax
import neural_tangents as nt
from neural_tangents import predict
N_TIMES = {n_times}
{timer}
args = {{k: jax.numpy.asarray(v) for k, v in INPUTS.items()}}
results, (_, fx_test) = run_cases(predict, **args, repeats={repeats})
for r in results.values():
    r["jax"] = jax.__version__
    r["neural_tangents"] = nt.__version__
emit_json(results)
emit_arrays(fx_test=fx_test)
"""


def run_nt(
    problem: dict, repeats: int, blas_threads: int | None = None
) -> tuple[dict, np.ndarray]:
    code = _NT_SNIPPET.format(n_times=N_TIMES, timer=_TIMER, repeats=repeats)
    env = None if blas_threads is None else {"OPENBLAS_NUM_THREADS": str(blas_threads)}
    res = nt_reference.run_nt(code, inputs=problem, env=env)
    return res.json, res.arrays["fx_test"]


def _pool(rounds: list[dict]) -> dict:
    """One record from several rounds: the median over every timed call."""
    all_runs = [t for r in rounds for t in r["runs_s"]]
    pooled = dict(rounds[0])
    pooled["runs_s"] = all_runs
    pooled["median_s"] = float(np.median(all_runs))
    pooled["first_call_s"] = rounds[0]["first_call_s"]
    pooled["round_medians_s"] = [r["median_s"] for r in rounds]
    return pooled


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "nkwidgets_git": commit,
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        # Other processes on a shared 2-core machine distort LAPACK timings most
        # (OpenBLAS threads spin); the load says whether a run can be trusted.
        "loadavg_1_5_15": list(os.getloadavg()),
        # The load average trails by a minute; this is the run queue right now
        # (this process included), what the factorisations' thread choice reads.
        "procs_running": procs_running(),
    }


def procs_running() -> int | None:
    """Runnable tasks on the machine now (``/proc/stat``), None off Linux."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternations of the two sides"
    )
    parser.add_argument("--only", choices=("ours", "nt"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "predict.json")
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="OpenBLAS threads on both sides (default: the libraries' own choice); "
        "1 makes LAPACK timings robust on an oversubscribed machine",
    )
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5 for a meaningful median")

    problem = make_problem()
    record: dict = {
        "machine": machine_info(),
        "problem": {
            "n_train": N_TRAIN,
            "n_test": N_TEST,
            "classes": 10,
            "times": N_TIMES,
            "dtype": "float32",
            "kernel": "NTK of Dense(1.5, 0.05)-Relu-Dense(1.5, 0.05) on sklearn digits",
        },
        "repeats": args.repeats,
        "rounds": args.rounds,
        "blas_threads": args.blas_threads,
    }
    ours_out = nt_out = None
    runs: dict[str, dict[str, list[dict]]] = {"ours": {}, "nt": {}}
    # Alternate the two sides so a burst of load from other processes on a
    # shared machine hits both rather than one.
    for _ in range(args.rounds):
        if args.only != "nt":
            res, ours_out = run_ours(problem, args.repeats, args.blas_threads)
            for case, r in res.items():
                runs["ours"].setdefault(case, []).append(r)
        if args.only != "ours":
            res, nt_out = run_nt(problem, args.repeats, args.blas_threads)
            for case, r in res.items():
                runs["nt"].setdefault(case, []).append(r)
    for side, cases in runs.items():
        if cases:
            record[side] = {case: _pool(rounds) for case, rounds in cases.items()}
    if ours_out is not None and nt_out is not None:
        record["fx_test_rel_err_vs_nt"] = float(
            np.linalg.norm(ours_out.astype(np.float64) - nt_out)
            / np.linalg.norm(nt_out.astype(np.float64))
        )

    print(f"{'case':28s} {'ours s':>9s} {'NT s':>9s} {'ours/NT':>8s}")
    for case in CASES:
        ours = record.get("ours", {}).get(case, {}).get("median_s")
        nt = record.get("nt", {}).get(case, {}).get("median_s")
        ratio = ours / nt if ours and nt else None
        fmt = lambda v, w=9: f"{v:{w}.4f}" if v is not None else f"{'-':>{w}s}"  # noqa: E731
        print(f"{case:28s} {fmt(ours)} {fmt(nt)} {fmt(ratio, 8)}")
    summary = {}
    for side in ("ours", "nt"):
        if side in record:
            r = record[side]
            summary[f"{side}_t100_over_t1"] = (
                r["factory_and_predict_t100"]["median_s"]
                / r["factory_and_predict_t1"]["median_s"]
            )
    if "ours" in record and "nt" in record:
        summary["ours_over_nt"] = (
            record["ours"]["factory_and_predict_t100"]["median_s"]
            / record["nt"]["factory_and_predict_t100"]["median_s"]
        )
    record["summary"] = summary
    labels = {
        "ours_t100_over_t1": "ours, factory+predict 100 times / 1 time (target < 2)",
        "nt_t100_over_t1": "NT,   factory+predict 100 times / 1 time",
        "ours_over_nt": "ours / NT, factory+predict 100 times (target <= 1.0)",
    }
    for key, value in summary.items():
        print(f"{labels.get(key, key)}: {value:.3f}")
    if "fx_test_rel_err_vs_nt" in record:
        print(
            f"fx_test relative error vs NT (float32): {record['fx_test_rel_err_vs_nt']:.2e}"
        )
    record["machine"]["loadavg_after_1_5_15"] = list(os.getloadavg())
    record["machine"]["procs_running_after"] = procs_running()
    print(
        f"load average before/after: {record['machine']['loadavg_1_5_15'][0]:.2f}"
        f" / {record['machine']['loadavg_after_1_5_15'][0]:.2f} on {os.cpu_count()} cores"
        f" (runnable tasks before/after: {record['machine']['procs_running']}"
        f" / {record['machine']['procs_running_after']})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
