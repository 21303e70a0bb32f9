"""Tests of ``nkwidgets/predict.py``: the public surface and NT compatibility.

The module is a docstring plus ``from ... import x as x`` lines (like
``jax.nn``); names and signatures follow Neural Tangents 0.6.5's
``neural_tangents.predict`` so ported code runs unchanged.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest

from nkwidgets import predict

from ._kernels import toy_kernel_fn

pytestmark = pytest.mark.filterwarnings("error")

# Parameter names and defaults of NT 0.6.5 (neural_tangents/_src/predict.py).
NT_SIGNATURES = {
    "gradient_descent_mse": [
        ("k_train_train", inspect.Parameter.empty),
        ("y_train", inspect.Parameter.empty),
        ("learning_rate", 1.0),
        ("diag_reg", 0.0),
        ("diag_reg_absolute_scale", False),
        ("trace_axes", (-1,)),
    ],
    "gradient_descent": [
        ("loss", inspect.Parameter.empty),
        ("k_train_train", inspect.Parameter.empty),
        ("y_train", inspect.Parameter.empty),
        ("learning_rate", 1.0),
        ("momentum", None),
        ("trace_axes", (-1,)),
    ],
    "gp_inference": [
        ("k_train_train", inspect.Parameter.empty),
        ("y_train", inspect.Parameter.empty),
        ("diag_reg", 0.0),
        ("diag_reg_absolute_scale", False),
        ("trace_axes", (-1,)),
    ],
    "gradient_descent_mse_ensemble": [
        ("kernel_fn", inspect.Parameter.empty),
        ("x_train", inspect.Parameter.empty),
        ("y_train", inspect.Parameter.empty),
        ("learning_rate", 1.0),
        ("diag_reg", 0.0),
        ("diag_reg_absolute_scale", False),
        ("trace_axes", (-1,)),
    ],
    "max_learning_rate": [
        ("ntk_train_train", inspect.Parameter.empty),
        ("y_train_size", None),
        ("momentum", 0.0),
        ("eps", 1e-12),
    ],
}

NT_PREDICT_FN_PARAMETERS = {
    "gradient_descent_mse": ["t", "fx_train_0", "fx_test_0", "k_test_train"],
    "gradient_descent": ["t", "fx_train_or_state_0", "fx_test_0", "k_test_train"],
    "gp_inference": ["get", "k_test_train", "k_test_test"],
    "gradient_descent_mse_ensemble": ["t", "x_test", "get", "compute_cov"],
}


def test_nt_names_exist():
    for name in [*NT_SIGNATURES, "Gaussian", "ODEState"]:
        assert hasattr(predict, name), name
    assert predict.Gaussian._fields == ("mean", "covariance")
    assert predict.ODEState._fields == ("fx_train", "fx_test", "qx_train", "qx_test")


@pytest.mark.parametrize("name", sorted(NT_SIGNATURES))
def test_nt_signatures(name):
    params = list(inspect.signature(getattr(predict, name)).parameters.values())
    positional = [
        (p.name, p.default)
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert positional == NT_SIGNATURES[name]
    # Anything we add must be keyword-only so NT's positional calls still work.
    extra = [p for p in params if p.kind == p.KEYWORD_ONLY]
    assert all(p.default is not inspect.Parameter.empty for p in extra)


def test_predict_fn_parameter_names(x64):
    k = np.eye(3)
    y = np.ones((3, 1))
    fns = {
        "gradient_descent_mse": predict.gradient_descent_mse(k, y),
        "gradient_descent": predict.gradient_descent(
            lambda f, t: ((f - t) ** 2).mean(), k, y
        ),
        "gp_inference": predict.gp_inference(k, y),
        "gradient_descent_mse_ensemble": predict.gradient_descent_mse_ensemble(
            toy_kernel_fn, np.eye(3), y
        ),
    }
    for name, fn in fns.items():
        names = list(inspect.signature(fn).parameters)
        assert (
            names[: len(NT_PREDICT_FN_PARAMETERS[name])]
            == NT_PREDICT_FN_PARAMETERS[name]
        )


def test_public_module_only_reexports():
    path = Path(predict.__file__)
    tree = ast.parse(path.read_text())
    for node in tree.body[1:]:  # after the docstring
        assert isinstance(node, ast.ImportFrom), ast.dump(node)
        for alias in node.names:
            assert alias.asname == alias.name, "use `from m import x as x`"
            assert node.module.startswith("nkwidgets._predict.")


MODULES = ["_mse", "_gp", "_ensemble", "_ode", "_learning_rate", "_metrics"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module(f"nkwidgets._predict.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
