"""Sketched and Taylor-feature NTK regression against exact NTK regression, one run.

Run from the repo root with the project venv::

    .venv/bin/python bench/bench_sketch.py                 # n = 20,000
    .venv/bin/python bench/bench_sketch.py --n-exact 5000 --widths 512 1024
    .venv/bin/python bench/bench_sketch.py --rank-check 4000   # rank vs sketch noise

Problem (deterministic, made here): ``x`` uniform on the sphere ``|x| = 8`` in
``d = 64`` (``RandomState(0)`` Gaussians, normalised), targets from a fixed
random two-layer ReLU teacher ``2 relu(x W1) w2`` (32 hidden units) plus 0.1
noise, 20,000 training and 2,000 test points. Exact NTK regression halves
linear regression's test error here (the table's ``linear`` row), so the bar
measures what the kernel learns. (The first version of this bench used
Gaussian inputs and a tanh teacher, whose learnable part at these n is
linear: ridge regression on ``[1, x]`` beat exact NTK regression, 0.1051 vs
0.1108 at n = 4,000, so an MSE bar there compared noise, not kernels.)
Network: FC3 ReLU, ``Dense(1.5, 0.05) -> Relu`` three times, then
``Dense(1.5, 0.05)``; converged gradient descent on MSE (``t = inf``, i.e.
kernel ridge regression) with ``diag_reg = 0.1`` (scaled by the mean kernel
diagonal, ``predict``'s convention), float32.

* **exact**: ``stax`` ``kernel_fn`` for the train x train and test x train NTK
  (jitted), then ``predict.gradient_descent_mse(...)(None, ...)`` (Cholesky),
  measured at ``n`` itself unless ``--n-exact`` is smaller (then the time at
  ``n`` is extrapolated: kernel time x (n / n_exact)^2, solve x (n / n_exact)^3).
* **taylor**: ``sketch.TaylorFeatures(kernel_fn, exact_degree, sketch_dim)``:
  the network's NTK on the sphere as a power series in the cosine, degrees
  <= 2 exact (2,145 columns), optional PolySketch of degrees 3-4, the rest as
  ``diagonal_tail`` ridge; features in batches of 4,096, then
  ``sketch.gradient_descent_mse_streamed`` (one ``D x D`` Gram, Cholesky).
* **rf**: ``ReluFeatures(m)`` random features layer by layer, TensorSRHT for
  the NTK, ``D = 2 m + 1``, same regression.

Timings include compilation (each side's first call), as a user pays it once
per problem; the JSON also records the steady-state time of a second call.
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
# The ridge is chosen for the *exact* model, the reference: at n = 4,000 its
# test MSE is 0.15738, 0.15754, 0.15909, 0.17333 for diag_reg 1e-4, 1e-3,
# 1e-2, 1e-1 (times the mean kernel diagonal). The high-degree part of the NTK
# already acts as a ridge of ~1/3 of the diagonal, so small values barely
# matter; both sides use the same.
W_STD, B_STD, DIAG_REG = 1.5, 0.05, 1e-3


def make_data(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.randn(n_train + n_test, D_IN)
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * np.sqrt(D_IN)
    w1 = rng.randn(D_IN, 32) / np.sqrt(D_IN)
    w2 = rng.randn(32, 1) / np.sqrt(32)
    y = 2.0 * np.maximum(x @ w1, 0.0) @ w2 + 0.1 * rng.randn(len(x), 1)
    x, y = x.astype(np.float32), y.astype(np.float32)
    return {"x": x[:n_train], "y": y[:n_train], "xt": x[n_train:], "yt": y[n_train:]}


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def run_exact(d: dict, n: int) -> dict:
    import jax

    from nkwidgets import predict

    kernel_fn = jax.jit(_stax_kernel_fn(), static_argnames="get")
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

    jax.clear_caches()  # the first call pays compilation, as a user does
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


def _stax_kernel_fn():
    from nkwidgets import stax

    layers = []
    for _ in range(3):
        layers += [stax.Dense(512, W_STD, B_STD), stax.Relu()]
    return stax.serial(*layers, stax.Dense(1, W_STD, B_STD))[2]


def _feature_regression(d, n, feature_fn, params, batch, diagonal_tail=0.0):
    """Features in batches, streamed Gram + Cholesky; returns (pred, D)."""
    import jax

    from nkwidgets import sketch

    x, y = d["x"][:n], d["y"][:n]
    phi = sketch.feature_batches(feature_fn, params, x, batch)
    ys = (y[i : i + batch] for i in range(0, n, batch))
    predict_fn = sketch.gradient_descent_mse_streamed(
        zip(phi, ys, strict=True), diag_reg=DIAG_REG, diagonal_tail=diagonal_tail
    )
    phit = np.concatenate(
        list(sketch.feature_batches(feature_fn, params, d["xt"], batch))
    )
    return jax.block_until_ready(predict_fn(None, phit)), phit.shape[1]


def _timed_twice(method: str, d: dict, n: int, make_features, batch: int) -> dict:
    """One features-and-regression row: the first call (with compilation) and a second.

    ``make_features()`` builds the feature map inside the timed region and
    returns ``(feature_fn, params, diagonal_tail)``.
    """
    import jax

    def once():
        t0 = time.perf_counter()
        feature_fn, params, tail = make_features()
        pred, dim = _feature_regression(d, n, feature_fn, params, batch, tail)
        return pred, time.perf_counter() - t0, dim, tail

    jax.clear_caches()  # the first call pays compilation, as a user does
    _, total, dim, tail = once()
    pred, steady, _, _ = once()
    return {
        "method": method,
        "n": n,
        "d_feat": dim,
        "diagonal_tail": tail,
        "total_s": total,
        "steady_total_s": steady,
        "test_mse": mse(pred, d["yt"]),
    }


def run_sketch(d: dict, n: int, m: int, batch: int = 4096) -> dict:
    import jax

    from nkwidgets import sketch

    layers = []
    for _ in range(3):
        layers += [sketch.DenseFeatures(W_STD, B_STD), sketch.ReluFeatures(m)]
    init_fn, feature_fn = sketch.serial(*layers, sketch.DenseFeatures(W_STD, B_STD))

    def make_features():
        _, params = init_fn(jax.random.PRNGKey(0), (batch, D_IN))
        return feature_fn, params, 0.0

    return _timed_twice(f"rf m={m}", d, n, make_features, batch)


def run_taylor(
    d: dict, n: int, exact_degree: int, sketch_dim: int, batch: int = 4096
) -> dict:
    """``TaylorFeatures`` of the same network; init (the series fit) is timed too."""
    import jax

    from nkwidgets import sketch

    kernel_fn = _stax_kernel_fn()

    def make_features():
        init_fn, feature_fn = sketch.TaylorFeatures(
            kernel_fn, exact_degree=exact_degree, sketch_dim=sketch_dim
        )
        _, params = init_fn(jax.random.PRNGKey(0), (batch, D_IN))
        return feature_fn, params, float(params.ntk_tail)

    name = f"taylor exact<= {exact_degree}" + (
        f" +ps {sketch_dim}" if sketch_dim else ""
    )
    return _timed_twice(name, d, n, make_features, batch)


def run_linear(d: dict, n: int) -> dict:
    """Ridge regression on ``[1, x]``: what the kernel must beat to matter."""
    t0 = time.perf_counter()
    x = np.c_[np.ones(n), d["x"][:n]].astype(np.float64)
    xt = np.c_[np.ones(len(d["xt"])), d["xt"]].astype(np.float64)
    coef = np.linalg.solve(x.T @ x + 1e-3 * np.eye(x.shape[1]), x.T @ d["y"][:n])
    pred = xt @ coef
    return {
        "method": "linear [1, x]",
        "n": n,
        "d_feat": x.shape[1],
        "total_s": time.perf_counter() - t0,
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

    kernel_fn = jax.jit(_stax_kernel_fn(), static_argnames="get")
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
    parser.add_argument(
        "--n-exact",
        type=int,
        default=N_TRAIN,
        help="largest n of exact regression (its n x n kernels need ~8 GB at 20,000)",
    )
    parser.add_argument("--widths", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument(
        "--taylor-sketch",
        type=int,
        nargs="+",
        default=[0, 1024],
        help="TaylorFeatures sketch_dim values (0: degrees <= 2 exact, the rest as ridge)",
    )
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
        "features": [],
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
    for n in exact_ns + ([args.n] if args.n not in exact_ns else []):
        runs = [run_linear(d, n)]
        runs += [run_taylor(d, n, 2, sd) for sd in args.taylor_sketch]
        runs += [run_sketch(d, n, m) for m in args.widths]
        for r in runs:
            record["features"].append(r)
            print(
                f"{r['method']:>22s} n={n:6d} D={r['d_feat']:5d}: total "
                f"{r['total_s']:7.2f} s  test MSE {r['test_mse']:.5f}",
                flush=True,
            )

    by_n = {r["n"]: r for r in record["exact"]}
    big = record["exact"][-1]
    if args.n not in by_n:
        scale = args.n / big["n"]
        by_n[args.n] = {
            "n": args.n,
            "extrapolated": True,
            "total_s": big["kernel_s"] * scale**2 + big["solve_s"] * scale**3,
            "test_mse": big["test_mse"],
            "scaling": "kernel x (n/n_exact)^2 + Cholesky solve x (n/n_exact)^3; "
            f"MSE of n={big['n']}",
        }
    record["exact_at_n"] = by_n[args.n]
    print()
    print(
        "| method | n | D | time s | exact s | speed-up | test MSE | exact MSE | MSE vs exact |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in record["features"]:
        ref = by_n[r["n"]]
        star = "*" if ref.get("extrapolated") else ""
        r.update(
            speedup=ref["total_s"] / r["total_s"],
            mse_increase_vs_exact=r["test_mse"] / ref["test_mse"] - 1.0,
        )
        print(
            f"| {r['method']} | {r['n']} | {r['d_feat']} | {r['total_s']:.2f} | "
            f"{ref['total_s']:.2f}{star} | {r['speedup']:.1f}x | {r['test_mse']:.5f} | "
            f"{ref['test_mse']:.5f}{star} | {100 * r['mse_increase_vs_exact']:+.1f}% |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
