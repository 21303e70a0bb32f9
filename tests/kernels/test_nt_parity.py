"""Parity with Neural Tangents 0.6.5 on stored reference kernels.

The reference values live in ``tests/fixtures/nt_<family>.npz``, produced by
``tests/fixtures/generate_nt_fixtures.py`` under NT 0.6.5 / jax 0.4.23 in
float64 (see ``tests/fixtures/README.md``). This module never imports
``neural_tangents``: it rebuilds each network from ``nkwidgets.stax`` by
evaluating the fixture's own architecture string in a namespace of that
module's public names plus ``jnp`` and ``np``, runs our ``kernel_fn`` in
float64 on the stored inputs, and compares ``nngp``, ``ntk``, ``cov1`` and
``cov2``.

Tolerance (``NT_PARITY_RTOL`` = 1e-4, from ``tests/_tolerances.py``), for every
output NT returned:

* identical shape;
* relative Frobenius error ``||ours - nt|| / ||nt|| <= 1e-4``;
* elementwise ``np.testing.assert_allclose(ours, nt, rtol=1e-4,
  atol=1e-4 * max|nt|)``; the ``atol`` term keeps entries that are ~0 by
  cancellation (odd activations, Sign's NTK) from demanding relative accuracy.

Where NT returned None (``cov2`` of ``kernel_fn(x1, None)``) ours must too.
One shape exception: NT returns the NTK of a parameter-free network (e.g.
``Flatten()`` alone) as a 0-d ``0.``; ours may return that or zeros shaped
like ``nngp``.

Entries stored as NaN are ones NT 0.6.5 itself gets wrong (RectifiedMonomial's
dual is 0/0 at correlation 1: its cov1/cov2 and x1x1 diagonal); they are left
out of both comparisons, and ours must be finite there.

One test per (family, case, call); call ``x1x2`` is ``kernel_fn(x1, x2)`` and
``x1x1`` is ``kernel_fn(x1, None)`` (they differ e.g. for Dropout). A case's
``call_kwargs`` expression (families ``attention`` and ``masking``: graphs
for ``Aggregate``, ``mask_constant``) is evaluated on the stored inputs and passed to both calls. A case whose
layer ``nkwidgets.stax`` lacks FAILS, on purpose: the fixture list is the
to-do list. A case NT itself raised on is skipped, with NT's message as reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax

from .._tolerances import NT_PARITY_RTOL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OUTPUTS = ("nngp", "ntk", "cov1", "cov2")


def _load_params() -> list:
    params = []
    for path in sorted(FIXTURES.glob("nt_*.npz")):
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["__meta__"]))
        family = meta["family"]
        for case in meta["cases"]:
            for call in ("x1x2", "x1x1"):
                params.append(
                    pytest.param(path, case, call, id=f"{family}/{case['name']}/{call}")
                )
    return params


PARAMS = _load_params()


def _namespace() -> dict[str, object]:
    ns: dict[str, object] = {
        k: getattr(stax, k) for k in dir(stax) if not k.startswith("_")
    }
    ns.update(jnp=jnp, np=np)
    return ns


def test_fixtures_exist_and_name_their_versions():
    """Guards against an empty parametrisation silently passing."""
    assert (FIXTURES / "nt_dense.npz").exists()
    assert PARAMS
    with np.load(FIXTURES / "nt_dense.npz", allow_pickle=False) as f:
        meta = json.loads(str(f["__meta__"]))
    assert meta["neural_tangents"] == "0.6.5"
    assert meta["x64"] is True


@pytest.mark.parametrize(("path", "case", "call"), PARAMS)
def test_matches_neural_tangents(path: Path, case: dict, call: str, x64):
    if case.get("nt_wrong"):
        pytest.skip(f"NT 0.6.5's values are wrong here: {case['nt_wrong']}")
    if "build_error" in case:
        pytest.skip(f"NT 0.6.5 could not build this network: {case['build_error']}")
    outcome = case["calls"][call]
    if outcome["status"] != "ok":
        pytest.skip(f"NT 0.6.5 raised, no reference: {outcome['error']}")

    name = case["name"]
    try:
        # The fixture's own architecture string, written by generate_nt_fixtures.py.
        _, _, kernel_fn = eval(case["arch"], _namespace())
    except NameError as exc:
        missing = exc.name
    else:
        missing = None
    if (
        missing
    ):  # failed outside `except` so the report is one line, not a chained traceback
        pytest.fail(f"nkwidgets.stax has no `{missing}` yet, needed by {case['arch']}")

    with np.load(path, allow_pickle=False) as f:
        x1 = f[f"{name}/x1"]
        x2 = None if call == "x1x1" else f[f"{name}/x2"]
        expected = {
            key: f[f"{name}/{call}/{key}"] if key not in outcome["none"] else None
            for key in OUTPUTS
        }
    assert x1.dtype == np.float64

    kwargs = {}
    if case.get("call_kwargs"):
        # The fixture's own expression (a graph for Aggregate, mask_constant).
        kwargs = eval(case["call_kwargs"], {**_namespace(), "x1": x1, "x2": x2})
    nngp, ntk = kernel_fn(x1, x2, ("nngp", "ntk"), **kwargs)
    k = kernel_fn(x1, x2, None, **kwargs)
    ours = {"nngp": nngp, "ntk": ntk, "cov1": k.cov1, "cov2": k.cov2}

    problems = []
    for key in OUTPUTS:
        want, got = expected[key], ours[key]
        if want is None:
            if got is not None:
                problems.append(
                    f"{key}: NT returned None, ours has shape {np.shape(got)}"
                )
            continue
        if got is None:
            problems.append(f"{key}: ours is None, NT has shape {want.shape}")
            continue
        got = np.asarray(got)
        if key == "ntk" and want.ndim == 0 and got.shape == np.shape(ours["nngp"]):
            # NT's NTK of a parameter-free network is a 0-d zero; a full array
            # of zeros is the same kernel.
            want = np.broadcast_to(want, got.shape)
        if got.shape != want.shape:
            problems.append(f"{key}: shape {got.shape} != NT {want.shape}")
            continue
        if got.dtype != np.float64:
            problems.append(f"{key}: dtype {got.dtype}, expected float64 under x64")
        # NaN marks entries NT 0.6.5 gets wrong (see the module docstring):
        # compare the rest, and demand a number from us there.
        trusted = np.isfinite(want)
        if not np.isfinite(got[~trusted]).all():
            problems.append(f"{key}: non-finite where NT is unreliable too")
        got, want = got[trusted], want[trusted]
        if want.size == 0:
            continue
        scale = float(np.max(np.abs(want)))
        denom = float(np.linalg.norm(want))
        rel = (
            float(np.linalg.norm(got - want)) / denom
            if denom > 0
            else float(np.linalg.norm(got))
        )
        if not rel <= NT_PARITY_RTOL:
            problems.append(
                f"{key}: relative norm error {rel:.3e} > {NT_PARITY_RTOL:g}"
            )
        try:
            np.testing.assert_allclose(
                got, want, rtol=NT_PARITY_RTOL, atol=NT_PARITY_RTOL * scale, err_msg=key
            )
        except AssertionError as exc:
            problems.append(str(exc).strip())
    if problems:
        pytest.fail(f"{name} [{call}] {case['arch']}\n" + "\n".join(problems))
