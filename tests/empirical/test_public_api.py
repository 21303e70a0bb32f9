"""The public faces ``nkwidgets/empirical.py`` and ``nkwidgets/monte_carlo.py``.

They hold a docstring plus ``from ... import x as x`` lines (like ``jax.nn``);
names and positional parameters follow Neural Tangents 0.6.5 so ported code
runs unchanged. One documented difference: ``implementation`` defaults to
``AUTO`` (NT: ``JACOBIAN_CONTRACTION``); additions are keyword-only.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
from pathlib import Path

import pytest

from nkwidgets import empirical, monte_carlo

E = inspect.Parameter.empty
AUTO = empirical.NtkImplementation.AUTO
_NTK = [
    ("f", E),
    ("trace_axes", (-1,)),
    ("diagonal_axes", ()),
    ("vmap_axes", None),
    ("implementation", AUTO),
    ("_j_rules", True),
    ("_s_rules", True),
    ("_fwd", None),
]
NT_SIGNATURES = {
    (empirical, "empirical_ntk_fn"): _NTK,
    (empirical, "empirical_kernel_fn"): _NTK,
    (empirical, "empirical_nngp_fn"): [
        ("f", E),
        ("trace_axes", (-1,)),
        ("diagonal_axes", ()),
    ],
    (empirical, "empirical_ntk_vp_fn"): [("f", E), ("x1", E), ("x2", E), ("params", E)],
    (empirical, "linearize"): [("f", E), ("params", E)],
    (empirical, "taylor_expand"): [("f", E), ("params", E), ("degree", E)],
    (monte_carlo, "monte_carlo_kernel_fn"): [
        ("init_fn", E),
        ("apply_fn", E),
        ("key", E),
        ("n_samples", E),
        ("batch_size", 0),
        ("device_count", -1),
        ("store_on_device", True),
        *_NTK[1:],
    ],
}


@pytest.mark.parametrize(
    ("module", "name"), list(NT_SIGNATURES), ids=[n for _, n in NT_SIGNATURES]
)
def test_nt_signatures(module, name):
    params = list(inspect.signature(getattr(module, name)).parameters.values())
    positional = [
        (p.name, p.default) for p in params if p.kind == p.POSITIONAL_OR_KEYWORD
    ]
    assert positional == NT_SIGNATURES[(module, name)]
    assert all(p.default is not E for p in params if p.kind == p.KEYWORD_ONLY)


def test_ntk_implementation_values_are_neural_tangents():
    values = {m.name: int(m) for m in empirical.NtkImplementation}
    assert values == {
        "AUTO": 0,
        "JACOBIAN_CONTRACTION": 1,
        "NTK_VECTOR_PRODUCTS": 2,
        "STRUCTURED_DERIVATIVES": 3,
    }


def test_memory_budget_error_is_an_nkerror():
    from nkwidgets.errors import NKError

    assert issubclass(empirical.MemoryBudgetError, NKError)


@pytest.mark.parametrize("module", [empirical, monte_carlo])
def test_public_modules_only_reexport(module):
    tree = ast.parse(Path(module.__file__).read_text())
    assert ast.get_docstring(tree)
    for node in tree.body[1:]:
        assert isinstance(node, ast.ImportFrom), ast.dump(node)
        assert node.module.startswith("nkwidgets._empirical.")
        for alias in node.names:
            assert alias.asname == alias.name, "use `from m import x as x`"


@pytest.mark.parametrize(
    "module", ["_ntk", "_nngp", "_linearize", "_ntk_vector", "_monte_carlo"]
)
def test_docstring_examples(module):
    mod = importlib.import_module(f"nkwidgets._empirical.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
