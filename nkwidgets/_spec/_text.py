"""A spec's JSON tree written back as ``%%nk`` text that parses to the same tree."""

from __future__ import annotations

import math
from typing import Any


def value_to_text(value: Any) -> str:
    if isinstance(value, dict) and "layer" in value:
        return node_to_text(value)
    if isinstance(value, dict) and "function" in value:
        return value["function"]
    if isinstance(value, dict) and "slice" in value:
        return slice_to_text(value)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return "[" + ", ".join(value_to_text(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(value_to_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def slice_to_text(node: dict[str, Any]) -> str:
    """``{"slice": ...}`` as ``Slice[...]``: a list is a tuple index, e.g. ``Slice[:, 1:3]``."""
    index = node["slice"]
    if not isinstance(index, list | tuple):
        return f"Slice[{_entry_to_text(index)}]"
    if not index:
        return "Slice[()]"
    inner = ", ".join(_entry_to_text(e) for e in index)
    # `Slice[0,]` is the tuple (0,); `Slice[0]` is 0.
    return f"Slice[{inner},]" if len(index) == 1 else f"Slice[{inner}]"


def _entry_to_text(entry: Any) -> str:
    if isinstance(entry, dict):
        start, stop, step = (
            "" if entry[k] is None else str(entry[k]) for k in ("start", "stop", "step")
        )
        return f"{start}:{stop}:{step}" if step else f"{start}:{stop}"
    return str(entry)  # an integer, or "..." for Ellipsis


def node_to_text(node: dict[str, Any]) -> str:
    """``{"layer", "args", "kwargs"}`` as a call, e.g. ``Dense(10, W_std=1.5)``."""
    parts = [value_to_text(a) for a in node["args"]]
    parts += [f"{k}={value_to_text(v)}" for k, v in node["kwargs"].items()]
    return f"{node['layer']}({', '.join(parts)})"


def call_to_text(call: dict[str, Any]) -> str:
    """``{"name", "kwargs"}`` (data, predict) as a keyword call."""
    parts = [f"{k}={value_to_text(v)}" for k, v in call["kwargs"].items()]
    return f"{call['name']}({', '.join(parts)})"
