"""The editor's layer list (src/editor/layer_catalog.json) is what the generator writes now.

The JupyterLab extension completes and highlights layer names from that file; a
layer added to ``nkwidgets.stax`` without regenerating it would be missing from
completion, so this fails until ``python scripts/generate_layer_catalog.py`` is run.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path

import pytest

from nkwidgets import stax
from nkwidgets.spec import FUNCTION_NAMES, STATEMENTS, SpecError, _layer_registry, parse

REPO = Path(__file__).resolve().parents[1]


def _generator():
    path = REPO / "scripts" / "generate_layer_catalog.py"
    spec = importlib.util.spec_from_file_location("generate_layer_catalog", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_catalog_is_current():
    generator = _generator()
    committed = generator.CATALOG_PATH.read_text(encoding="utf-8")
    assert committed == generator.render(), (
        "run: python scripts/generate_layer_catalog.py"
    )
    assert generator.main(["--check"]) == 0


def test_catalog_lists_every_layer_with_its_arguments():
    catalog = json.loads((REPO / "src" / "editor" / "layer_catalog.json").read_text())
    layers = {layer["name"]: layer for layer in catalog["layers"]}
    assert set(layers) == set(_layer_registry())
    assert [s["name"] for s in catalog["settings"]] == list(STATEMENTS)
    assert catalog["functions"] == list(FUNCTION_NAMES)
    dense = layers["Dense"]
    assert dense["params"] == list(inspect.signature(stax.Dense).parameters)
    assert dense["signature"].startswith("Dense(out_dim, W_std=1.0,")
    assert layers["serial"]["takes_layers"] and not dense["takes_layers"]
    assert layers["ElementwiseNumerical"]["takes_functions"]
    # Every name the editor offers is a name the parser accepts: a bogus
    # argument is reported against the layer, never as an unknown layer.
    for name in layers:
        with pytest.raises(SpecError) as info:
            parse(f"net = {name}(nk_probe=1)")
        assert "unknown layer" not in str(info.value), name
        assert "nk_probe" in str(info.value), name
