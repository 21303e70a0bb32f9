"""nkwidgets: infinite-width neural network kernels, live in JupyterLab.

``import nkwidgets as nt`` gives Neural Tangents' top-level names
(``nt.stax``, ``nt.predict``, ``nt.batch``, ``nt.empirical_ntk_fn``,
``nt.linearize``, ``nt.monte_carlo_kernel_fn``, ...), loaded on first use so
``%load_ext nkwidgets`` stays fast. ``%load_ext nkwidgets`` enables the
``%%nk`` cell magic.
"""

from __future__ import annotations

import importlib
from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"

# Neural Tangents' top-level names -> the module that defines them here.
_NT_NAMES = {
    "stax": "nkwidgets.stax",
    "predict": "nkwidgets.predict",
    "empirical": "nkwidgets.empirical",
    "batch": "nkwidgets.batching",
    "Kernel": "nkwidgets.stax",
    "empirical_kernel_fn": "nkwidgets.empirical",
    "empirical_ntk_fn": "nkwidgets.empirical",
    "empirical_nngp_fn": "nkwidgets.empirical",
    "NtkImplementation": "nkwidgets.empirical",
    "linearize": "nkwidgets.empirical",
    "taylor_expand": "nkwidgets.empirical",
    "monte_carlo_kernel_fn": "nkwidgets.monte_carlo",
}


def __getattr__(name: str) -> Any:
    if name not in _NT_NAMES:
        raise AttributeError(f"module 'nkwidgets' has no attribute {name!r}")
    module = importlib.import_module(_NT_NAMES[name])
    value = module if module.__name__.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_NT_NAMES])


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%nk`` magics (called by ``%load_ext nkwidgets``)."""
    # Imported here so the engine floors never pull in IPython.
    from .magic import register_magics

    register_magics(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nkwidgets"}]
