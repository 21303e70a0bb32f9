"""Time nkwidgets' analytic kernels against Neural Tangents 0.6.5.

Run from the repo root with the project venv::

    .venv/bin/python bench/bench_kernels.py              # every case
    .venv/bin/python bench/bench_kernels.py fc3_relu_digits1500

Both sides run in the same invocation on the same inputs: ours in this process,
NT in a subprocess of the reference venv (``bench/nt_reference.py``, built on
first use). Load on a shared machine moves timings by tens of percent, so only
ratios from one invocation are comparable.

Both sides time with the same code (``_TIMER``, executed in each process):
``jax.jit`` of ``kernel_fn(x1, x2, get)``, one warm-up call (compile) excluded,
then the median of ``repeats`` calls, each ended by ``block_until_ready``.

To add a case, append a dict to ``CASES``; ``arch`` is a Python expression over
the stax namespace, evaluated identically against ``nkwidgets.stax`` and NT.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # nt_reference sits beside this script
# The source tree's nkwidgets, so an uninstalled checkout benchmarks itself.
sys.path.insert(1, str(REPO))

import nt_reference  # noqa: E402 - found via the sys.path line above

D = "W_std=1.5, b_std=0.05"
FC3_RELU = (
    f"serial(Dense(512, {D}), Relu(), Dense(512, {D}), Relu(), "
    f"Dense(512, {D}), Relu(), Dense(10, {D}))"
)

CASES: list[dict] = [
    {
        "name": "fc3_relu_digits1500",
        "description": "FC3 ReLU NNGP+NTK, 1500x1500 train kernel, sklearn digits",
        "arch": FC3_RELU,
        "data": "digits",
        "n1": 1500,
        "n2": None,  # None: kernel_fn(x1, None), the train-train kernel
        "get": ["nngp", "ntk"],
        "dtype": "float32",
        "repeats": 7,
    },
]


def load_data(kind: str, n: int, dtype: str) -> np.ndarray:
    """Inputs for a case; deterministic, and shipped with a package (no downloads)."""
    if kind == "digits":
        from sklearn.datasets import load_digits

        x = load_digits().data[:n].astype(np.float64)
        if len(x) < n:
            raise ValueError(f"digits has only {len(x)} images, case wants {n}")
        mean, std = x.mean(0), x.std(0)
        # Border pixels of the digits are constant; leave them at 0 rather
        # than dividing by zero.
        x = (x - mean) / np.where(std > 0, std, 1.0)
        return x.astype(dtype)
    raise ValueError(f"unknown data kind {kind!r}")


# Executed verbatim in both processes so the two sides are timed identically.
_TIMER = r"""
import time as _time
import jax as _jax

def time_kernel(stax, arch, x1, x2, get, repeats, extra_ns=None):
    ns = {k: getattr(stax, k) for k in dir(stax) if not k.startswith("_")}
    ns.update(extra_ns or {})
    _, _, kernel_fn = eval(arch, ns)
    get = tuple(get) if isinstance(get, (list, tuple)) else get
    fn = _jax.jit(lambda a, b: kernel_fn(a, b, get)) if x2 is not None else \
        _jax.jit(lambda a: kernel_fn(a, None, get))
    args = (x1, x2) if x2 is not None else (x1,)
    t0 = _time.perf_counter()
    out = _jax.block_until_ready(fn(*args))
    first = _time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = _time.perf_counter()
        out = _jax.block_until_ready(fn(*args))
        runs.append(_time.perf_counter() - t0)
    runs_sorted = sorted(runs)
    median = runs_sorted[len(runs) // 2] if len(runs) % 2 else \
        0.5 * (runs_sorted[len(runs) // 2 - 1] + runs_sorted[len(runs) // 2])
    return {"median_s": median, "runs_s": runs, "first_call_s": first}, out
"""


def _ours(case: dict, x1: np.ndarray, x2: np.ndarray | None) -> tuple[dict, dict]:
    import jax

    from nkwidgets import stax

    ns: dict = {}
    exec(_TIMER, ns)  # noqa: S102 - our own timing harness, shared with the NT side
    timing, out = ns["time_kernel"](
        stax, case["arch"], x1, x2, case["get"], case["repeats"]
    )
    timing["jax"] = jax.__version__
    return timing, dict(zip(case["get"], (np.asarray(o) for o in out), strict=True))


_NT_SNIPPET = r"""
import json, jax, neural_tangents
from neural_tangents import stax
case = json.loads(INPUTS["case"].item())
x1 = INPUTS["x1"]
x2 = INPUTS["x2"] if "x2" in INPUTS else None
timing, out = time_kernel(stax, case["arch"], x1, x2, case["get"], case["repeats"])
timing["jax"] = jax.__version__
timing["neural_tangents"] = neural_tangents.__version__
emit_json(timing)
emit_arrays(**dict(zip(case["get"], out)))
"""


def _nt(case: dict, x1: np.ndarray, x2: np.ndarray | None) -> tuple[dict, dict]:
    inputs = {"case": np.array(json.dumps(case)), "x1": x1}
    if x2 is not None:
        inputs["x2"] = x2
    res = nt_reference.run_nt(_NT_SNIPPET, inputs=inputs, preamble=_TIMER)
    return res.json, res.arrays


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import subprocess

    # Ours changes under the benchmark; the commit (and dirtiness) says which code ran.
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
        "sched_affinity": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64))
    )


def run_case(case: dict, sides: set[str]) -> dict:
    x1 = load_data(case["data"], case["n1"], case["dtype"])
    x2 = (
        None
        if case["n2"] is None
        else load_data(case["data"], case["n2"], case["dtype"])
    )
    row: dict = {k: v for k, v in case.items()}
    outs = {}
    if "ours" in sides:
        row["ours"], outs["ours"] = _ours(case, x1, x2)
    if "nt" in sides:
        row["nt"], outs["nt"] = _nt(case, x1, x2)
    if len(outs) == 2:
        row["ratio_ours_over_nt"] = row["ours"]["median_s"] / row["nt"]["median_s"]
        # Guards against timing two different computations.
        row["rel_err_vs_nt"] = {
            k: _rel_err(outs["ours"][k], outs["nt"][k]) for k in case["get"]
        }
    return row


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--only", choices=["ours", "nt"], help="time one side only")
    parser.add_argument(
        "--repeats", type=int, help="override every case's repeat count (>= 5)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "kernels.json")
    args = parser.parse_args(argv)

    by_name = {c["name"]: c for c in CASES}
    unknown = [n for n in args.cases if n not in by_name]
    if unknown:
        parser.error(f"unknown cases {unknown}; known: {list(by_name)}")
    selected = [by_name[n] for n in args.cases] if args.cases else CASES
    if args.repeats is not None:
        if args.repeats < 5:
            parser.error("--repeats must be >= 5: a median of fewer is noise here")
        selected = [dict(c, repeats=args.repeats) for c in selected]
    sides = {args.only} if args.only else {"ours", "nt"}

    machine = machine_info()
    rows = [run_case(c, sides) for c in selected]

    print(f"{machine['cpu_model']}, nproc={machine['nproc']}, {machine['date_utc']}")
    header = f"{'case':<24} {'ours s':>9} {'NT s':>9} {'ours/NT':>8}  max rel err vs NT"
    print(header)
    print("-" * len(header))
    for row in rows:
        ours = row.get("ours", {}).get("median_s")
        nt = row.get("nt", {}).get("median_s")
        ratio = row.get("ratio_ours_over_nt")
        err = max(row["rel_err_vs_nt"].values()) if "rel_err_vs_nt" in row else None
        print(
            f"{row['name']:<24} {_fmt(ours):>9} {_fmt(nt):>9} "
            f"{'-' if ratio is None else f'{ratio:.2f}':>8}  {'-' if err is None else f'{err:.1e}'}"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": machine, "cases": rows}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
