"""Sphinx configuration of the nkwidgets documentation site.

Built in CI with ``-W`` (tests/test_docs.py): a broken reference, a docstring
that does not parse or a tutorial that fails to render fails the build.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "nkwidgets"
author = "nkwidgets developers"
copyright = "2026, nkwidgets developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "tutorials/README.md"]

# Tutorials are stored without outputs and run by nbval in CI; the site shows
# their code and prose (readers run them on Binder or locally).
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": False,
}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Dataclass fields listed under "Attributes:" are also autodoc members; as
# :ivar: fields they are not described twice.
napoleon_use_ivar = True
# Type hints name private classes and third-party types that have no page here.
nitpicky = False
suppress_warnings = ["myst.header"]

html_theme = "furo"


def _copy_tutorials() -> None:
    """The notebooks live in notebooks/; Sphinx reads sources only below docs/."""
    import shutil

    target = ROOT / "docs" / "tutorials"
    for old in target.glob("[0-9]*.ipynb"):
        old.unlink()
    for notebook in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        shutil.copy2(notebook, target / notebook.name)


_copy_tutorials()
html_title = "nkwidgets"
