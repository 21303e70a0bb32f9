"""The experiment description: ``%%nk`` text <-> JSON <-> runnable Experiment.

The text is Python-shaped so it reads naturally, but it is *parsed* with
:mod:`ast` and checked against whitelists of layer names, dataset names and
literal arguments; nothing in it is ever evaluated. Every error carries the line
and (character) column it refers to. The grammar is documented in
``docs/nk-language.md``; the implementation lives in ``nkwidgets/_spec/``.
"""

from __future__ import annotations

from ._spec._error import SpecError
from ._spec._model import Spec, parse
from ._spec._vocabulary import (
    DTYPES,
    FUNCTION_NAMES,
    KERNEL_NAMES,
    MAX_DEPTH,
    MAX_NUMBER,
    MAX_SEQUENCE,
    MAX_SPEC_CHARS,
    MAX_STRING,
    PREDICTORS,
    STATEMENTS,
    catalog,
)
from ._spec._vocabulary import layer_registry as _layer_registry

__all__ = [
    "DTYPES",
    "FUNCTION_NAMES",
    "KERNEL_NAMES",
    "MAX_DEPTH",
    "MAX_NUMBER",
    "MAX_SEQUENCE",
    "MAX_SPEC_CHARS",
    "MAX_STRING",
    "PREDICTORS",
    "STATEMENTS",
    "Spec",
    "SpecError",
    "catalog",
    "parse",
    "_layer_registry",
]
