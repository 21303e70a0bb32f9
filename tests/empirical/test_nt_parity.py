"""Parity with Neural Tangents 0.6.5's empirical kernels on stored references.

``tests/fixtures/empirical_nt.npz`` holds NT's NTK / NNGP (float64, NT's
Jacobian contraction, checked there against NT's other two implementations),
``linearize``, ``taylor_expand(.., 2)`` and ``empirical_ntk_vp_fn`` outputs,
from ``tests/fixtures/generate_nt_empirical_fixtures.py``. The models are
rebuilt here from the fixture's own ``stax`` expressions / function sources
with ``nkwidgets.stax``, with NT's parameter values. Our implementations (and
AUTO), one per case in turn, must match to ``NT_PARITY_RTOL`` = 1e-4 relative Frobenius
error, the suite-wide meaning of parity (``tests/_tolerances.py``); in practice
the agreement is ~1e-15.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from nkwidgets import empirical, stax

from .._tolerances import NT_PARITY_RTOL
from ._models import rel_err

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "empirical_nt.npz"


def _meta() -> dict:
    with np.load(FIXTURE, allow_pickle=False) as f:
        return json.loads(str(f["__meta__"]))


META = _meta()


def _model(name: str):
    model = META["models"][name]
    x_shape = tuple(model["x_shape"])
    if model["kind"] == "stax":
        ns = {k: getattr(stax, k) for k in dir(stax) if not k.startswith("_")}
        init_fn, apply_fn, _ = eval(model["source"], ns)  # the fixture's own expression
        _, params = init_fn(jax.random.PRNGKey(0), (1, *x_shape))
    else:
        ns = {"jax": jax, "jnp": jnp, "lax": lax}
        exec(model["source"], ns)  # the fixture's own source, written by the generator
        apply_fn = ns["apply_fn"]
        params = {k: jnp.zeros(s) for k, s in ns["param_shapes"](x_shape).items()}
    flat, tree = jax.tree_util.tree_flatten(params)
    with np.load(FIXTURE, allow_pickle=False) as f:
        leaves = [f[f"{name}/p{i}"] for i in range(len(flat))]
        params2 = [f[f"{name}/params2_{i}"] for i in range(len(flat))]
        arrays = {k.split("/", 1)[1]: f[k] for k in f.files if k.startswith(f"{name}/")}
    for v, w in zip(flat, leaves, strict=True):
        assert np.shape(v) == np.shape(w)

    def unflatten(ls):
        return jax.tree_util.tree_unflatten(tree, [jnp.asarray(v) for v in ls])

    return apply_fn, unflatten(leaves), unflatten(params2), arrays


def test_fixture_names_its_versions():
    assert META["neural_tangents"] == "0.6.5" and META["x64"] is True
    assert len(META["cases"]) >= 16
    assert max(c["nt_impl_spread"] for c in META["cases"]) < 1e-10


# Each case runs one implementation, cycling AUTO, 1, 2, 3, so each meets NT on
# five cases; test_implementations.py holds them to each other on all models.
CASE_IMPLS = [(c, k % 4) for k, c in enumerate(META["cases"])]


@pytest.mark.parametrize(
    ("case", "impl"), CASE_IMPLS, ids=[f"{c['case']}-impl{i}" for c, i in CASE_IMPLS]
)
def test_kernels_match_neural_tangents(case, impl, x64):
    apply_fn, params, _, arrays = _model(case["model"])
    suffix = case["case"].split("/", 1)[1]
    x1 = arrays["x1"]
    x2 = arrays["x2"] if case["x2"] else None
    with np.load(FIXTURE, allow_pickle=False) as f:
        ntk_ref, nngp_ref = f[f"{case['case']}/ntk"], f[f"{case['case']}/nngp"]
    axes = dict(
        trace_axes=tuple(case["trace_axes"]), diagonal_axes=tuple(case["diagonal_axes"])
    )
    kernel_fn = empirical.empirical_kernel_fn(
        apply_fn, **axes, vmap_axes=case["vmap_axes"], implementation=impl
    )
    k = kernel_fn(x1, x2, ("nngp", "ntk"), params)
    assert k.ntk.shape == ntk_ref.shape, suffix
    assert rel_err(k.ntk, ntk_ref) < NT_PARITY_RTOL, (suffix, rel_err(k.ntk, ntk_ref))
    assert rel_err(k.nngp, nngp_ref) < NT_PARITY_RTOL, suffix


@pytest.mark.parametrize("name", sorted(META["models"]))
def test_expansions_and_vector_products_match_neural_tangents(name, x64):
    apply_fn, params, params2, arrays = _model(name)
    x1, x2 = arrays["x1"], arrays["x2"]

    @jax.jit  # one compile instead of many eager dispatches
    def ours(params, params2, cotangent):
        return (
            empirical.linearize(apply_fn, params)(params2, x1),
            empirical.taylor_expand(apply_fn, params, 2)(params2, x1),
            empirical.empirical_ntk_vp_fn(apply_fn, x1, x2, params)(cotangent),
        )

    lin, tay, vp = ours(params, params2, arrays["cotangent"])
    assert rel_err(lin, arrays["linearize"]) < NT_PARITY_RTOL
    assert rel_err(tay, arrays["taylor2"]) < NT_PARITY_RTOL
    assert rel_err(vp, arrays["ntk_vp"]) < NT_PARITY_RTOL
