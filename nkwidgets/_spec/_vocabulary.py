"""Everything a spec may name, and the limits that keep hostile input cheap.

A spec is checked against these whitelists and nothing else: a name that is not
here is an error, never a lookup. ``catalog()`` exports the same vocabulary for
the editor (highlighting and completion in JupyterLab), so the two cannot
disagree; ``scripts/generate_layer_catalog.py`` writes it to
``src/editor/layer_catalog.json``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from ._help_text import plain_text

MAX_SPEC_CHARS = 20_000  # far beyond any real experiment; bounds parser work
MAX_DEPTH = 32  # nesting of layers/literals; deeper is a mistake or an attack
MAX_NUMBER = 2**31  # widths, sizes and step counts all fit well below this
MAX_SEQUENCE = 1_000  # items in one literal list (e.g. training times)
MAX_STRING = 200  # padding names, cache directories, budgets
#: Layer arguments whose value sets how much work *building* the layer does, so
#: parsing (which builds every layer once) stays instant: Monomial/Hermite/
#: RectifiedMonomial expand Isserlis or arc-cosine terms per degree (float64
#: overflows past degree ~100 anyway), ElementwiseNumerical sets up Gauss rules
#: with ~2 deg^2 points (deg=200 already takes seconds; deg=50 is accurate to 1e-8).
ARGUMENT_LIMITS = {"degree": 100, "deg": 100}

#: Settings, in the order ``Spec.to_text`` writes them, with a line of help each.
SETTINGS = {
    "net": "the network: a layer expression such as serial(Dense(512), Relu(), Dense(10))",
    "data": "the dataset: digits(train=INT, test=INT, seed=INT, images=BOOL)",
    "compute": "kernels to compute: nngp, ntk or nngp, ntk",
    "predict": "predictions: gradient_descent_mse(t=[...], learning_rate=NUM, diag_reg=NUM)",
    "block_size": "rows/columns per computed block: a positive integer, or auto "
    "(default: sized from the memory estimate)",
    "dtype": "float32 or float64",
    "devices": "number of local devices to spread blocks over",
    "cache": 'directory for finished blocks, e.g. "nk-cache"; makes reruns resume',
    "budget": 'memory budget: bytes, "8GB" or "50%" of available',
}
STATEMENTS = tuple(SETTINGS)
KERNEL_NAMES = ("nngp", "ntk")
DTYPES = ("float32", "float64")
DATASETS = {"digits": ("train", "test", "seed", "images")}
PREDICTORS = {"gradient_descent_mse": ("t", "learning_rate", "diag_reg")}
#: Bare names that stand for values; everything else bare is an error.
CONSTANTS = {"inf": math.inf, "True": True, "False": False, "None": None}

#: The one subscriptable name: ``Slice[...]`` builds an index for ``Index``.
SLICE_NAME = "Slice"

#: Activation functions a spec may pass to ElementwiseNumerical / Elementwise,
#: by name. Resolved lazily so importing the spec module stays cheap.
FUNCTION_NAMES = (
    "tanh",
    "sin",
    "cos",
    "erf",
    "relu",
    "gelu",
    "sigmoid",
    "softplus",
    "silu",
    "elu",
)


def layer_registry() -> dict[str, Any]:
    """The layer factories of ``nkwidgets.stax`` by name: the only callables a net may use."""
    from .. import stax

    return {
        name: obj
        for name, obj in vars(stax).items()
        if not name.startswith("_") and callable(obj) and not inspect.isclass(obj)
    }


def function(name: str) -> Any:
    """The JAX function behind one of :data:`FUNCTION_NAMES`."""
    import jax
    import jax.numpy as jnp

    table = {
        "tanh": jnp.tanh,
        "sin": jnp.sin,
        "cos": jnp.cos,
        "erf": jax.scipy.special.erf,
        "relu": jax.nn.relu,
        "gelu": jax.nn.gelu,
        "sigmoid": jax.nn.sigmoid,
        "softplus": jax.nn.softplus,
        "silu": jax.nn.silu,
        "elu": jax.nn.elu,
    }
    return table[name]


def catalog() -> dict[str, Any]:
    """The vocabulary as plain JSON, for the editor's highlighting and completion.

    Deterministic (sorted layers, no object reprs), so the committed file can be
    compared with a fresh one.
    """
    layers = []
    for name, factory in sorted(layer_registry().items(), key=lambda kv: kv[0].lower()):
        signature = inspect.signature(factory)
        params = [
            p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD
        ]
        layers.append(
            {
                "name": name,
                "params": [p.name for p in params if p.kind is not p.VAR_POSITIONAL],
                "signature": f"{name}({', '.join(parameter_text(p) for p in params)})",
                "doc": _first_line(factory.__doc__),
                "takes_layers": any(_annotated(p, "Layer") for p in params),
                "takes_functions": any(
                    _annotated(p, "Activation") or _annotated(p, "Callable")
                    for p in params
                ),
            }
        )
    return {
        "settings": [{"name": k, "doc": v} for k, v in SETTINGS.items()],
        "layers": layers,
        "functions": list(FUNCTION_NAMES),
        "kernels": list(KERNEL_NAMES),
        "dtypes": list(DTYPES),
        "datasets": [{"name": k, "params": list(v)} for k, v in DATASETS.items()],
        "predictors": [{"name": k, "params": list(v)} for k, v in PREDICTORS.items()],
        "constants": list(CONSTANTS),
        "indexers": [SLICE_NAME],
    }


def _annotated(param: inspect.Parameter, word: str) -> bool:
    annotation = param.annotation
    text = (
        annotation
        if isinstance(annotation, str)
        else getattr(annotation, "__name__", "")
    )
    return word in str(text)


def parameter_text(param: inspect.Parameter) -> str:
    prefix = "*" if param.kind is param.VAR_POSITIONAL else ""
    if param.default is param.empty:
        return prefix + param.name
    default = param.default
    # Enum members and functions have reprs that are not spec text (or not stable).
    if default is None or isinstance(default, bool | int | float | str):
        return f"{param.name}={default!r}"
    if isinstance(default, tuple) and all(isinstance(v, int | float) for v in default):
        return f"{param.name}={default!r}"
    return f"{param.name}=…"


def _first_line(doc: str | None) -> str:
    """The summary (first paragraph) of a docstring, as plain text for the palette."""
    if not doc:
        return ""
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return plain_text(" ".join(line.strip() for line in paragraph.splitlines()))
