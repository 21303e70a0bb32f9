"""Time nkwidgets' empirical NTK implementations against Neural Tangents 0.6.5.

Run from the repo root with the project venv::

    .venv/bin/python bench/bench_empirical.py                    # every case
    .venv/bin/python bench/bench_empirical.py mlp_512_full --nt-impls 2 3
    .venv/bin/python bench/bench_empirical.py --only ours

Both sides run in the same invocation on the same inputs and parameters:
ours in this process, NT in a subprocess of the reference venv
(``bench/nt_reference.py``). Load on a shared machine moves timings by tens of
percent, so only ratios from one invocation are comparable.

Both sides time with the same code (``_TIMER``, executed in each process):
``jax.jit`` of ``ntk_fn(x1, x2, params)``, one warm-up call (compile) excluded,
then the median of ``repeats`` calls, each ended by ``block_until_ready``.
NT's implementation 1 takes ~40 s per call on the MLP case, so implementation
1 gets one timed call on both sides.

Cases name their network by a ``model`` string evaluated in both processes:
``stax:<expr>`` over each side's ``stax`` namespace, or ``fn:<name>`` for a
plain-JAX apply function defined in ``_MODELS`` (identical code on both sides).
Parameters are drawn with NumPy here and passed to both sides, so the kernels
must agree (``rel_err_vs_nt``, against NT's implementation 3).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # nt_reference sits beside this script
sys.path.insert(1, str(REPO))  # the source tree's nkwidgets

import nt_reference  # noqa: E402 - found via the sys.path line above
from bench_kernels import machine_info  # noqa: E402

MLP = "stax:serial(Dense(512), Relu(), Dense(512), Relu(), Dense(10))"

_CNN = "fn:cnn"
_MLP_DOC = "MLP 64-512-512-10 (ReLU, no bias), 256 examples, trace_axes=(), vmap_axes=0"
_CNN_DOC = "CNN Conv32 3x3 SAME x2 + Dense10 (ReLU, biases) on 8x8x1, 128 examples, trace_axes=(), vmap_axes=0"


def _case(
    name: str, doc: str, model: str, x_shape: list[int], n: int, same: bool
) -> dict:
    return {
        "name": name,
        "description": doc
        + (", x2=None (train-train kernel)" if same else ", x2 distinct"),
        "model": model,
        "x_shape": x_shape,
        "n1": n,
        "n2": None if same else n,  # None: ntk_fn(x1, None, params)
        "trace_axes": [],
        "vmap_axes": 0,
    }


CASES: list[dict] = [
    _case("mlp_x1x1", _MLP_DOC, MLP, [64], 256, True),
    _case("mlp_x1x2", _MLP_DOC, MLP, [64], 256, False),
    _case("cnn_x1x1", _CNN_DOC, _CNN, [8, 8, 1], 128, True),
    _case("cnn_x1x2", _CNN_DOC, _CNN, [8, 8, 1], 128, False),
]

# Plain-JAX models, run verbatim in both processes (jax 0.4.23 and 0.10).
_MODELS = r"""
import jax as _jax
import jax.numpy as _jnp
from jax import lax as _lax

def _conv(x, w, b):
    y = _lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
    fan_in = w.shape[0] * w.shape[1] * w.shape[2]
    return y / fan_in ** 0.5 + b

def cnn(params, x, **kwargs):
    h = _jax.nn.relu(_conv(x, params["c1"], params["b1"]))
    h = _jax.nn.relu(_conv(h, params["c2"], params["b2"]))
    h = h.reshape(h.shape[0], -1)
    return h @ params["d"] / h.shape[-1] ** 0.5 + params["db"]

MODELS = {"cnn": cnn}

def cnn_param_shapes(x_shape):
    c = x_shape[-1]
    return {"c1": (3, 3, c, 32), "b1": (32,), "c2": (3, 3, 32, 32), "b2": (32,),
            "d": (x_shape[0] * x_shape[1] * 32, 10), "db": (10,)}

def build(stax, model, x_shape, leaves):
    '''(apply_fn, params) with the given parameter leaves, in tree order.'''
    if model.startswith("stax:"):
        ns = {k: getattr(stax, k) for k in dir(stax) if not k.startswith("_")}
        init_fn, apply_fn, _ = eval(model[5:], ns)
        _, params = init_fn(_jax.random.PRNGKey(0), (1, *x_shape))
    else:
        apply_fn = MODELS[model[3:]]
        params = {k: _jnp.zeros(s) for k, s in cnn_param_shapes(x_shape).items()}
    flat, tree = _jax.tree_util.tree_flatten(params)
    assert len(flat) == len(leaves), (len(flat), len(leaves))
    return apply_fn, _jax.tree_util.tree_unflatten(tree, [_jnp.asarray(v) for v in leaves])
"""

_TIMER = r"""
import time as _time

def time_ntk(ntk_fn, x1, x2, params, repeats):
    fn = _jax.jit(lambda a, b, p: ntk_fn(a, b, p))
    t0 = _time.perf_counter()
    out = _jax.block_until_ready(fn(x1, x2, params))
    first = _time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = _time.perf_counter()
        out = _jax.block_until_ready(fn(x1, x2, params))
        runs.append(_time.perf_counter() - t0)
    s = sorted(runs)
    median = s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])
    return {"median_s": median, "runs_s": runs, "first_call_s": first}, out
"""

_NT_SNIPPET = r"""
import json, jax, neural_tangents as nt
from neural_tangents import stax
case = json.loads(INPUTS["case"].item())
leaves = [INPUTS[f"p{i}"] for i in range(int(INPUTS["n_leaves"]))]
f, params = build(stax, case["model"], case["x_shape"], leaves)
x1 = INPUTS["x1"]
x2 = INPUTS["x2"] if "x2" in INPUTS else None
res, outs = {}, {}
for impl in case["nt_impls"]:
    ntk_fn = nt.empirical_ntk_fn(f, trace_axes=tuple(case["trace_axes"]),
                                 vmap_axes=case["vmap_axes"], implementation=impl)
    res[str(impl)], out = time_ntk(ntk_fn, x1, x2, params, case["repeats"][str(impl)])
    outs[f"impl{impl}"] = out
res["jax"] = jax.__version__
res["neural_tangents"] = nt.__version__
emit_json(res)
emit_arrays(**outs)
"""


def _inputs(case: dict) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray]]:
    rng = np.random.RandomState(0)
    x1 = rng.standard_normal((case["n1"], *case["x_shape"])).astype(np.float32)
    x2 = None
    if case["n2"] is not None:
        x2 = rng.standard_normal((case["n2"], *case["x_shape"])).astype(np.float32)
    ns: dict = {}
    exec(_MODELS, ns)  # noqa: S102 - our own model code, shared with the NT side
    import jax

    from nkwidgets import stax

    if case["model"].startswith("stax:"):
        sns = {k: getattr(stax, k) for k in dir(stax) if not k.startswith("_")}
        init_fn, _, _ = eval(case["model"][5:], sns)
        _, params = init_fn(jax.random.PRNGKey(0), (1, *case["x_shape"]))
        shapes = [np.shape(v) for v in jax.tree_util.tree_leaves(params)]
    else:
        shapes = [
            tuple(s)
            for s in jax.tree_util.tree_leaves(
                ns["cnn_param_shapes"](case["x_shape"]),
                is_leaf=lambda v: isinstance(v, tuple),
            )
        ]
    leaves = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return x1, x2, leaves


def _ours(case: dict, x1, x2, leaves, impls: list[int]) -> tuple[dict, dict]:
    import jax

    from nkwidgets import empirical, stax

    ns: dict = {}
    exec(_MODELS + _TIMER, ns)  # noqa: S102 - shared harness
    f, params = ns["build"](stax, case["model"], case["x_shape"], leaves)
    res, outs = {}, {}
    for impl in impls:
        ntk_fn = empirical.empirical_ntk_fn(
            f,
            trace_axes=tuple(case["trace_axes"]),
            vmap_axes=case["vmap_axes"],
            implementation=impl,
        )
        res[str(impl)], out = ns["time_ntk"](
            ntk_fn, x1, x2, params, case["repeats"][str(impl)]
        )
        res[str(impl)]["chosen"] = int(ntk_fn.chosen_implementation)
        if impl == 0:
            res[str(impl)]["decision"] = str(ntk_fn.decide(x1, x2, params))
        outs[f"impl{impl}"] = np.asarray(out)
    res["jax"] = jax.__version__
    return res, outs


def _nt(case: dict, x1, x2, leaves) -> tuple[dict, dict]:
    inputs = {
        "case": np.array(json.dumps(case)),
        "x1": x1,
        "n_leaves": np.array(len(leaves)),
    }
    if x2 is not None:
        inputs["x2"] = x2
    inputs.update({f"p{i}": v for i, v in enumerate(leaves)})
    r = nt_reference.run_nt(
        _NT_SNIPPET, inputs=inputs, preamble=_MODELS + _TIMER, timeout=3600
    )
    return r.json, r.arrays


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64))
    )


def run_case(
    case: dict,
    sides: set[str],
    ours_impls: list[int],
    nt_impls: list[int],
    repeats: dict,
) -> dict:
    case = dict(
        case, repeats={str(k): v for k, v in repeats.items()}, nt_impls=nt_impls
    )
    x1, x2, leaves = _inputs(case)
    row = dict(case)
    outs = {}
    if "ours" in sides:
        row["ours"], outs["ours"] = _ours(case, x1, x2, leaves, ours_impls)
    if "nt" in sides and nt_impls:
        row["nt"], outs["nt"] = _nt(case, x1, x2, leaves)
    if len(outs) == 2:
        nt_times = {k: v["median_s"] for k, v in row["nt"].items() if k.isdigit()}
        best_nt = min(nt_times.values())
        row["ratio_ours_over_nt_same_impl"] = {
            k: row["ours"][k]["median_s"] / nt_times[k]
            for k in row["ours"]
            if k in nt_times
        }
        if "0" in row["ours"]:
            row["ratio_auto_over_nt_best"] = row["ours"]["0"]["median_s"] / best_nt
        ref = outs["nt"].get("impl3", next(iter(outs["nt"].values())))
        row["rel_err_vs_nt"] = {k: _rel(v, ref) for k, v in outs["ours"].items()}
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--only", choices=["ours", "nt"], help="time one side only")
    parser.add_argument("--ours-impls", type=int, nargs="*", default=[0, 1, 2, 3])
    parser.add_argument("--nt-impls", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed calls for implementations 0 and 3"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "empirical.json")
    args = parser.parse_args(argv)

    by_name = {c["name"]: c for c in CASES}
    unknown = [n for n in args.cases if n not in by_name]
    if unknown:
        parser.error(f"unknown cases {unknown}; known: {list(by_name)}")
    selected = [by_name[n] for n in args.cases] if args.cases else CASES
    sides = {args.only} if args.only else {"ours", "nt"}
    # Implementation 1 costs ~40 s a call on the MLP; 2 about 10 s.
    repeats = {0: args.repeats, 1: 1, 2: 3, 3: args.repeats}

    machine = machine_info()
    rows = [
        run_case(c, sides, args.ours_impls, args.nt_impls, repeats) for c in selected
    ]

    print(f"{machine['cpu_model']}, nproc={machine['nproc']}, {machine['date_utc']}")
    header = f"{'case':<10} {'impl':>4} {'ours s':>9} {'NT s':>9} {'ours/NT':>8}  rel err vs NT impl 3"
    print(header)
    print("-" * len(header))
    for row in rows:
        ours = row.get("ours", {})
        nt = row.get("nt", {})
        best_nt = min(
            (v["median_s"] for k, v in nt.items() if k.isdigit()), default=None
        )
        for impl in sorted(
            {*(k for k in ours if k.isdigit()), *(k for k in nt if k.isdigit())}
        ):
            o = ours.get(impl, {}).get("median_s")
            n = nt.get(impl, {}).get("median_s") if impl != "0" else best_nt
            ratio = "-" if o is None or n is None else f"{o / n:.2f}"
            err = row.get("rel_err_vs_nt", {}).get(f"impl{impl}")
            label = "auto" if impl == "0" else impl
            print(
                f"{row['name']:<10} {label:>4} {'-' if o is None else f'{o:.4f}':>9} "
                f"{'-' if n is None else f'{n:.4f}':>9} {ratio:>8}  {'-' if err is None else f'{err:.1e}'}"
            )
        if "0" in ours:
            print(f"  {ours['0'].get('decision', '')}")
    print("auto row: NT column is NT's best implementation")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": machine, "cases": rows}, indent=2, default=str) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
