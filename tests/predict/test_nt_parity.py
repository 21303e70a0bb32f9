"""Parity of ``nkwidgets.predict`` with Neural Tangents 0.6.5 ``nt.predict``.

Reference outputs live in ``tests/fixtures/predict_nt.npz``, made by
``tests/fixtures/generate_nt_predict_fixtures.py`` under NT 0.6.5 / jax 0.4.23
in float64. This module never imports ``neural_tangents``: it reruns the same
calls with ``nkwidgets.predict`` in float64 and compares every output.

Tolerance: ``NT_PARITY_RTOL`` (1e-4, ``tests/_tolerances.py``) on the relative
Frobenius error, and elementwise ``rtol=1e-4, atol=1e-4 * max|nt|`` so that
entries which are ~0 by cancellation do not demand relative accuracy. The maths
is identical; what differs is the factorisation (we use one
eigendecomposition where NT uses Cholesky for ``t=None``) and, for
``gradient_descent``, the ODE solver (diffrax Tsit5 vs NT's Dormand-Prince
``odeint``, both at rtol = atol = 1.4e-8), all far inside 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import predict

from ._kernels import toy_kernel_fn
from ._tolerances import NT_PARITY_RTOL

pytestmark = pytest.mark.filterwarnings("error")

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "predict_nt.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    return arrays, meta


def _close(ours, nt, what):
    ours = np.asarray(ours, dtype=np.float64)
    assert ours.shape == nt.shape, what
    scale = max(np.abs(nt).max(), np.finfo(np.float64).tiny)
    rel = np.linalg.norm(ours - nt) / max(np.linalg.norm(nt), scale)
    assert rel <= NT_PARITY_RTOL, f"{what}: relative error {rel:.2e}"
    np.testing.assert_allclose(
        ours, nt, rtol=NT_PARITY_RTOL, atol=NT_PARITY_RTOL * scale, err_msg=what
    )


def test_fixture_names_its_versions(ref):
    _, meta = ref
    assert meta["neural_tangents"] == "0.6.5" and meta["x64"] is True
    assert set(meta["cases"]) >= {
        "gd_mse_plain",
        "gp",
        "ensemble",
        "max_lr",
        "gd_ce_momentum",
    }


@pytest.mark.parametrize("variant", ["plain", "reg", "reg_abs", "untraced"])
def test_gradient_descent_mse(x64, ref, variant):
    arrays, meta = ref
    case = f"gd_mse_{variant}"
    a = {k[len(case) + 1 :]: v for k, v in arrays.items() if k.startswith(case + "/")}
    kwargs = dict(meta["cases"][case])
    trace_axes = tuple(kwargs.pop("trace_axes"))
    fn = predict.gradient_descent_mse(
        a["k_dd"], a["y"], trace_axes=trace_axes, **kwargs
    )
    for label, t in (("ts", a["ts"]), ("none", None), ("inf", np.inf)):
        tr, te = fn(t, a["f0"], a["g0"], a["k_td"])
        _close(tr, a[f"out/{label}/fx_train"], f"{case} t={label} train")
        _close(te, a[f"out/{label}/fx_test"], f"{case} t={label} test")
    if variant != "untraced":
        _close(
            fn(a["ts"], None, a["g0"], a["k_td"]),
            a["out/test_only"],
            f"{case} test only",
        )


def test_gp_inference(x64, ref):
    arrays, meta = ref
    a = {k[3:]: v for k, v in arrays.items() if k.startswith("gp/")}
    kernels = {}
    for name, x1, x2 in (
        ("k_dd", "x_train", None),
        ("k_td", "x_test", "x_train"),
        ("k_tt", "x_test", None),
    ):
        k = toy_kernel_fn(
            jnp.asarray(a[x1]),
            None if x2 is None else jnp.asarray(a[x2]),
            ("nngp", "ntk"),
        )
        for g in ("nngp", "ntk"):
            # The generator's kernel_fn must be ours, or the comparison is moot.
            np.testing.assert_allclose(getattr(k, g), a[f"{name}/{g}"], rtol=1e-12)
        kernels[name] = k
    fn = predict.gp_inference(
        kernels["k_dd"], a["y"], diag_reg=meta["cases"]["gp"]["diag_reg"]
    )
    out = fn(tuple(meta["cases"]["gp"]["get"]), kernels["k_td"], kernels["k_tt"])
    for g in ("nngp", "ntk", "ntkgp"):
        _close(getattr(out, g).mean, a[f"out/{g}/mean"], f"gp {g} mean")
        _close(
            getattr(out, g).covariance, a[f"out/{g}/covariance"], f"gp {g} covariance"
        )
    means = fn(None, kernels["k_td"])
    _close(means.nngp, a["out/means/nngp"], "gp nngp means")
    _close(means.ntk, a["out/means/ntk"], "gp ntk means")


def test_gradient_descent_mse_ensemble(x64, ref):
    arrays, meta = ref
    a = {k[9:]: v for k, v in arrays.items() if k.startswith("ensemble/")}
    fn = predict.gradient_descent_mse_ensemble(
        toy_kernel_fn, jnp.asarray(a["x_train"]), a["y"], **meta["cases"]["ensemble"]
    )
    for label, t in (("ts", a["ts"]), ("none", None)):
        for where, xt in (("test", jnp.asarray(a["x_test"])), ("train", None)):
            out = fn(t, xt, ("nngp", "ntk"), compute_cov=True)
            for g in ("nngp", "ntk"):
                for field in ("mean", "covariance"):
                    _close(
                        getattr(getattr(out, g), field),
                        a[f"out/{label}/{where}/{g}/{field}"],
                        f"ensemble t={label} {where} {g} {field}",
                    )
    _close(
        fn(a["ts"], jnp.asarray(a["x_test"]), "ntk"),
        a["out/ts/test/ntk_mean_only"],
        "mean only",
    )


def test_max_learning_rate(x64, ref):
    arrays, meta = ref
    for call, want in zip(
        meta["cases"]["max_lr"]["calls"], arrays["max_lr/out"], strict=True
    ):
        got = predict.max_learning_rate(arrays["max_lr/k"], **call)
        assert got == pytest.approx(want, rel=NT_PARITY_RTOL), call


def _cross_entropy(fx, y_hat):
    return -jnp.mean(jax.nn.log_softmax(fx) * y_hat)


@pytest.mark.parametrize("case", ["gd_ce", "gd_ce_momentum"])
def test_gradient_descent_cross_entropy(x64, ref, case):
    arrays, meta = ref
    a = {k[len(case) + 1 :]: v for k, v in arrays.items() if k.startswith(case + "/")}
    kw = meta["cases"][case]
    fn = predict.gradient_descent(
        _cross_entropy,
        a["k_dd"],
        a["y"],
        learning_rate=kw["learning_rate"],
        momentum=kw["momentum"],
    )
    if kw["momentum"] is None:
        tr, te = fn(a["ts"], a["f0"], a["g0"], a["k_td"])
        _close(tr, a["out/fx_train"], f"{case} train")
        _close(te, a["out/fx_test"], f"{case} test")
    else:
        state = fn(a["ts"], predict.ODEState(a["f0"], a["g0"]), None, a["k_td"])
        for field in ("fx_train", "fx_test", "qx_train", "qx_test"):
            _close(getattr(state, field), a[f"out/{field}"], f"{case} {field}")
