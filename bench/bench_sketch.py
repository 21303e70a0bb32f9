"""Sketched NTK regression against exact NTK regression, both ours, one run.

Run from the repo root with the project venv::

    .venv/bin/python bench/bench_sketch.py                 # n = 20,000
    .venv/bin/python bench/bench_sketch.py --n-exact 5000 --widths 512 1024
    .venv/bin/python bench/bench_sketch.py --rank-check 4000   # rank vs sketch noise

Problem (deterministic, made here): ``x ~ N(0, I_64)`` (``RandomState(0)``),
targets from a fixed random two-layer tanh teacher plus 0.1 noise, 20,000
training and 2,000 test points. Network: FC3 ReLU,
``Dense(1.5, 0.05) -> Relu`` three times, then ``Dense(1.5, 0.05)``; converged
gradient descent on MSE (``t = inf``, i.e. kernel ridge regression) with
``diag_reg = 0.1`` (scaled by the mean kernel diagonal, ``predict``'s
convention), float32.

* **exact**: ``stax`` ``kernel_fn`` for the train x train and test x train NTK
  (jitted), then ``predict.gradient_descent_mse(...)(None, ...)`` (Cholesky).
  The n x n float32 kernel needs ``4 n^2`` bytes and the kernel recursion
  holds a few such arrays, so exact runs stop at ``--n-exact`` (default
  10,000: ~0.4 GB per matrix, ~3 GB peak) and the n = 20,000 time is
  extrapolated: kernel time x (n / n_exact)^2, solve time x (n / n_exact)^3.
* **sketch**: ``nkwidgets.sketch`` features of the same network
  (``ReluFeatures(m)`` random features, TensorSRHT for the NTK) computed in
  batches of 4,096 rows, then ``sketch.gradient_descent_mse_streamed`` (one
  ``D x D`` Gram, Cholesky), ``D = 2 m + 1``.

Timings include compilation (each side's first call), as a user pays it once
per problem; the table also lists the steady-state time of a second call.
Writes ``bench/results/sketch.json`` (git-ignored; ``--out`` changes it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from bench_predict import machine_info  # noqa: E402

D_IN, N_TRAIN, N_TEST = 64, 20_000, 2_000
# 0.1 (times the mean kernel diagonal) is the best of {1e-3, 1e-2, 1e-1} for
# the *exact* model on this problem at n = 4000 (test MSE 0.1133, 0.1130,
# 0.1108); the sketch gains more from it (its noise acts like extra
# variance), so it is the same ridge for both sides, chosen for the reference.
W_STD, B_STD, DIAG_REG = 1.5, 0.05, 1e-1


def make_data(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.randn(n_train + n_test, D_IN).astype(np.float32)
    w1 = rng.randn(D_IN, 32) / np.sqrt(D_IN)
    w2 = rng.randn(32, 1) / np.sqrt(32)
    y = np.tanh(2.0 * x @ w1) @ w2 + 0.1 * rng.randn(len(x), 1)
    y = y.astype(np.float32)
    return {"x": x[:n_train], "y": y[:n_train], "xt": x[n_train:], "yt": y[n_train:]}


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def run_exact(d: dict, n: int) -> dict:
    import jax

    from nkwidgets import predict, stax

    layers = []
    for _ in range(3):
        layers += [stax.Dense(512, W_STD, B_STD), stax.Relu()]
    kernel_fn = jax.jit(
        stax.serial(*layers, stax.Dense(1, W_STD, B_STD))[2], static_argnames="get"
    )
    x, y = d["x"][:n], d["y"][:n]

    def once():
        t0 = time.perf_counter()
        k = jax.block_until_ready(kernel_fn(x, None, get="ntk"))
        kt = jax.block_until_ready(kernel_fn(d["xt"], x, get="ntk"))
        t1 = time.perf_counter()
        pred = predict.gradient_descent_mse(k, y, diag_reg=DIAG_REG)(
            None, None, 0.0, kt
        )
        pred = jax.block_until_ready(pred)
        t2 = time.perf_counter()
        return pred, t1 - t0, t2 - t1

    pred, k_s, s_s = once()
    del pred
    pred, k2, s2 = once()
    return {
        "n": n,
        "kernel_s": k_s,
        "solve_s": s_s,
        "total_s": k_s + s_s,
        "steady_total_s": k2 + s2,
        "test_mse": mse(pred, d["yt"]),
    }


def run_sketch(d: dict, n: int, m: int, batch: int = 4096) -> dict:
    import jax

    from nkwidgets import sketch

    layers = []
    for _ in range(3):
        layers += [sketch.DenseFeatures(W_STD, B_STD), sketch.ReluFeatures(m)]
    init_fn, feature_fn = sketch.serial(*layers, sketch.DenseFeatures(W_STD, B_STD))
    x, y = d["x"][:n], d["y"][:n]

    def once():
        t0 = time.perf_counter()
        _, params = init_fn(jax.random.PRNGKey(0), (batch, D_IN))
        phi = sketch.feature_batches(feature_fn, params, x, batch)
        ys = (y[i : i + batch] for i in range(0, n, batch))
        predict_fn = sketch.gradient_descent_mse_streamed(
            zip(phi, ys, strict=True), diag_reg=DIAG_REG
        )
        phit = np.concatenate(
            list(sketch.feature_batches(feature_fn, params, d["xt"], batch))
        )
        pred = jax.block_until_ready(predict_fn(None, phit))
        return pred, time.perf_counter() - t0, phit.shape[1]

    pred, total, dim = once()
    pred, steady, _ = once()
    return {
        "n": n,
        "m": m,
        "d_feat": dim,
        "total_s": total,
        "steady_total_s": steady,
        "test_mse": mse(pred, d["yt"]),
    }


def run_rank_check(d: dict, n: int, ranks: list[int]) -> dict:
    """Test MSE of the best rank-D model of the exact NTK, against exact regression.

    Features ``U_D sqrt(Lambda_D)`` from the top-D eigenpairs of the train NTK
    (test rows ``K_test U_D / sqrt(Lambda_D)``), regressed with the same ridge:
    no D-dimensional feature map of this kernel can fit the training data better
    on this subspace, so it separates what a D-dimensional embedding must lose
    (rank) from what a random sketch adds (its noise). float64, ``O(n^3)``.
    """
    import jax

    from nkwidgets import stax

    layers = []
    for _ in range(3):
        layers += [stax.Dense(512, W_STD, B_STD), stax.Relu()]
    kernel_fn = jax.jit(
        stax.serial(*layers, stax.Dense(1, W_STD, B_STD))[2], static_argnames="get"
    )
    with jax.enable_x64():
        x = d["x"][:n].astype(np.float64)
        k = np.asarray(kernel_fn(x, None, get="ntk"))
        kt = np.asarray(kernel_fn(d["xt"].astype(np.float64), x, get="ntk"))
    y = d["y"][:n].astype(np.float64)
    ridge = DIAG_REG * np.mean(np.diag(k))
    exact = mse(kt @ np.linalg.solve(k + ridge * np.eye(n), y), d["yt"])
    w, u = np.linalg.eigh(k)
    w, u = w[::-1], u[:, ::-1]
    rows = []
    for rank in ranks:
        if rank >= n:
            continue
        f = u[:, :rank] * np.sqrt(w[:rank])
        ft = kt @ u[:, :rank] / np.sqrt(w[:rank])
        coef = np.linalg.solve(f.T @ f + ridge * np.eye(rank), f.T @ y)
        rows.append({"rank": rank, "test_mse": mse(ft @ coef, d["yt"])})
    return {"n": n, "exact_mse": exact, "best_rank": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N_TRAIN)
    parser.add_argument("--n-exact", type=int, default=10_000)
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sketch.json")
    parser.add_argument(
        "--rank-check",
        type=int,
        metavar="N",
        help="only compare, at n = N, the best rank-D model of the exact NTK and the "
        "sketch with exact regression (float64 eigendecomposition, O(N^3))",
    )
    args = parser.parse_args()
    if args.rank_check:
        n = args.rank_check
        d = make_data(n, N_TEST)
        check = run_rank_check(
            d, n, [256, 512, 1024, *(2 * m + 1 for m in args.widths)]
        )
        print(f"n={n}: exact NTK regression test MSE {check['exact_mse']:.5f}")
        for row in sorted(check["best_rank"], key=lambda r: r["rank"]):
            inc = row["test_mse"] / check["exact_mse"] - 1
            print(
                f"  best rank {row['rank']:5d}: {row['test_mse']:.5f} ({100 * inc:+.1f}%)"
            )
        for m in args.widths:
            r = run_sketch(d, n, m)
            inc = r["test_mse"] / check["exact_mse"] - 1
            print(
                f"  sketch m={m:5d} D={r['d_feat']:5d}: {r['test_mse']:.5f} ({100 * inc:+.1f}%)"
            )
        return

    d = make_data(args.n, N_TEST)
    record = {
        "machine": machine_info(),
        "n": args.n,
        "n_exact": args.n_exact,
        "diag_reg": DIAG_REG,
        "exact": [],
        "sketch": [],
    }
    exact_ns = sorted({min(args.n_exact, args.n) // 2, min(args.n_exact, args.n)})
    for n in exact_ns:
        r = run_exact(d, n)
        record["exact"].append(r)
        print(
            f"exact  n={n:6d}: kernel {r['kernel_s']:7.2f} s  solve {r['solve_s']:7.2f} s  "
            f"total {r['total_s']:7.2f} s  test MSE {r['test_mse']:.5f}",
            flush=True,
        )
    for n in sorted({args.n, exact_ns[-1]}):
        for m in args.widths:
            r = run_sketch(d, n, m)
            record["sketch"].append(r)
            print(
                f"sketch n={n:6d} m={m:5d} D={r['d_feat']:5d}: total {r['total_s']:7.2f} s  "
                f"test MSE {r['test_mse']:.5f}",
                flush=True,
            )

    big = record["exact"][-1]
    scale = args.n / big["n"]
    exact_at_n = (
        big
        if big["n"] == args.n
        else {
            "n": args.n,
            "extrapolated": True,
            "total_s": big["kernel_s"] * scale**2 + big["solve_s"] * scale**3,
            "scaling": "kernel x (n/n_exact)^2 + Cholesky solve x (n/n_exact)^3",
        }
    )
    record["exact_at_n"] = exact_at_n
    print()
    print(
        f"exact reference at n={args.n}: {exact_at_n['total_s']:.1f} s"
        + (
            " (extrapolated: " + exact_at_n["scaling"] + ")"
            if exact_at_n.get("extrapolated")
            else ""
        )
    )
    print(
        f"| n | m | D | sketch s | exact s | speed-up | sketch MSE | exact MSE (n={big['n']}) | MSE increase |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in record["sketch"]:
        ref = big if r["n"] == big["n"] else exact_at_n
        speedup = ref["total_s"] / r["total_s"]
        inc = r["test_mse"] / big["test_mse"] - 1.0
        r.update(speedup=speedup, mse_increase_vs_exact=inc)
        print(
            f"| {r['n']} | {r['m']} | {r['d_feat']} | {r['total_s']:.2f} | {ref['total_s']:.2f}"
            f"{'*' if ref.get('extrapolated') else ''} | {speedup:.1f}x | {r['test_mse']:.5f} | "
            f"{big['test_mse']:.5f} | {100 * inc:+.1f}% |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
