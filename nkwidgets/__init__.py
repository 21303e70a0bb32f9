"""nkwidgets: infinite-width neural network kernels, live in JupyterLab.

``%load_ext nkwidgets`` enables the ``%%nk`` cell magic.
"""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%nk`` magics (called by ``%load_ext nkwidgets``)."""
    # Imported here so the engine floors never pull in IPython.
    from .magic import register_magics

    register_magics(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nkwidgets"}]
