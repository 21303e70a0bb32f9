"""The documentation site builds with warnings as errors and documents every public name.

``sphinx-build -W`` over ``docs/`` (API reference from docstrings, the ``%%nk``
language, the architecture page, the tutorials); then the site's inventory must
hold every public layer and function of the modules users import.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = (
    "nkwidgets.stax",
    "nkwidgets.predict",
    "nkwidgets.empirical",
    "nkwidgets.monte_carlo",
    "nkwidgets.batching",
    "nkwidgets.widgets",
    "nkwidgets.phase",
    "nkwidgets.kip",
    "nkwidgets.spectrum",
    "nkwidgets.parameterization",
    "nkwidgets.convergence",
    "nkwidgets.sketch",
)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "docs",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"sphinx-build -W failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return out


def _resolve(dotted: str):
    """The object a documented ``package.module.Name`` refers to, or None."""
    module_name, _, attribute = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        return None


def _inventory_names(path: Path) -> set[str]:
    """Object names in a Sphinx v2 inventory: four header lines, then zlib text."""
    raw = path.read_bytes()
    body = raw.split(b"\n", 4)[4]
    lines = zlib.decompress(body).decode().splitlines()
    return {line.split(" ", 1)[0] for line in lines if line}


@pytest.mark.timeout(600)
def test_site_builds_without_warnings(built_site):
    for page in (
        "index.html",
        "nk-language.html",
        "architecture.html",
        "api/stax.html",
    ):
        assert (built_site / page).exists(), page
    tutorials = sorted(p.name for p in (built_site / "tutorials").glob("[0-9]*.html"))
    notebooks = sorted(
        p.stem + ".html" for p in (REPO / "notebooks").glob("[0-9]*.ipynb")
    )
    assert tutorials == notebooks


@pytest.mark.timeout(600)
def test_every_public_name_has_an_api_entry(built_site):
    documented = _inventory_names(built_site / "objects.inv")
    documented_objects = {id(o) for o in map(_resolve, documented) if o is not None}
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (
                inspect.isclass(obj) or inspect.isroutine(obj)
            ):
                continue
            # A name re-exported by several modules is documented once.
            if (
                f"{module_name}.{name}" not in documented
                and id(obj) not in documented_objects
            ):
                missing.append(f"{module_name}.{name}")
    assert not missing, f"public names without an API entry: {missing}"


TUTORIALS = (
    "01_quickstart",
    "02_nngp_vs_ntk",
    "03_convolutional",
    "04_finite_vs_infinite",
    "05_fast_empirical_ntk",
    "06_learning_rate_phases",
    "07_infinite_attention",
    "08_kernel_embeddings",
    "09_dataset_distillation_kip",
    "10_parameterization_and_spectra",
    "11_porting_from_neural_tangents",
    "12_scaling_out",
)


def test_the_twelve_tutorials_exist_and_readme_links_each_with_a_binder_badge():
    present = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9]*.ipynb"))
    assert present == list(TUTORIALS)
    readme = (REPO / "README.md").read_text()
    for name in TUTORIALS:
        assert f"](notebooks/{name}.ipynb)" in readme, name
        assert f"urlpath=lab/tree/notebooks/{name}.ipynb" in readme, name
