"""The ArchitectureBuilder's data: a chain of layers as form fields <-> spec JSON <-> text.

A network in the builder is a ``serial`` chain; each link is a :class:`LayerEntry`
holding the text of each argument field as the user typed it (empty: the
default). Layers that take other layers (``parallel``, ``FanOut``, ``repeat``,
...) are kept whole as one expression field, so any network the spec language
accepts can be shown and edited. Every conversion goes through the spec parser,
so the builder accepts exactly what ``%%nk`` accepts and reports the same errors.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from functools import cache
from typing import Any

from .._spec._text import node_to_text, value_to_text
from ..spec import Spec, SpecError, catalog, parse

#: Statement that stands in for the network while the other settings are printed.
_PLACEHOLDER_NET = "Identity()"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_TEXT = """net = serial(
    Dense(512, W_std=1.5, b_std=0.05),
    Relu(),
    Dense(512, W_std=1.5, b_std=0.05),
    Relu(),
    Dense(10, W_std=1.5, b_std=0.05),
)
data = digits(train=300, test=100)
compute = nngp, ntk
predict = gradient_descent_mse(t=[1, 10, 100, 1000, 10000, inf])
"""


@cache
def palette() -> dict[str, dict[str, Any]]:
    """Every layer a spec may use, by name: params, signature, one-line doc."""
    return {layer["name"]: layer for layer in catalog()["layers"]}


@cache
def _parameters(name: str) -> tuple[inspect.Parameter, ...]:
    from ..spec import _layer_registry

    signature = inspect.signature(_layer_registry()[name])
    return tuple(
        p
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    )


@dataclasses.dataclass
class Field:
    """One argument of a layer as a form field."""

    name: str
    required: bool
    default_text: str
    is_string: bool


def fields(name: str) -> list[Field]:
    """The form fields of layer `name`, in signature order."""
    out = []
    for p in _parameters(name):
        required = p.default is p.empty
        default = "" if required else _default_text(p.default)
        out.append(Field(p.name, required, default, isinstance(p.default, str)))
    return out


def _default_text(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float | str | tuple):
        return value if isinstance(value, str) else value_to_text(value)
    return "…"


@dataclasses.dataclass
class LayerEntry:
    """A link of the chain: a layer name and the text of each field, or a whole expression.

    ``expression`` is set for layers that take layers; ``values`` is empty then.
    """

    name: str
    values: dict[str, str] = dataclasses.field(default_factory=dict)
    expression: str | None = None

    @property
    def takes_layers(self) -> bool:
        return self.expression is not None

    def to_text(self) -> str:
        """The layer as spec text, e.g. ``Conv(8, (3, 3), padding='SAME')``."""
        if self.expression is not None:
            return self.expression.strip()
        positional, keywords = [], []
        for f in fields(self.name):
            text = self.values.get(f.name, "").strip()
            if not text:
                continue
            if (
                f.is_string
                and _IDENTIFIER.match(text)
                and text not in ("None", "True", "False")
            ):
                # Let users type SAME for padding='SAME'.
                text = repr(text)
            if f.required and not keywords:
                positional.append(text)
            else:
                keywords.append(f"{f.name}={text}")
        return f"{self.name}({', '.join(positional + keywords)})"

    def check(self) -> str:
        """An error message for this layer alone, or ``""`` when it is valid."""
        missing = (
            [f.name for f in fields(self.name) if f.required]
            if not self.takes_layers
            else []
        )
        missing = [m for m in missing if not self.values.get(m, "").strip()]
        if missing:
            return f"{self.name} needs {', '.join(missing)}."
        try:
            spec = parse(f"net = {self.to_text()}")
            spec.build_network()
        except SpecError as e:
            # Its line and column point into a one-layer snippet, not the form.
            return e.message
        except (ValueError, TypeError) as e:  # raised by the layer factory itself
            return f"{self.name}: {e}"
        return ""


#: Starting values where a layer's defaults alone do nothing useful.
_STARTING_VALUES = {"Elementwise": {"fn": "tanh"}}


def new_entry(name: str) -> LayerEntry:
    """A fresh palette layer; layer-taking ones start from a small example."""
    if palette()[name]["takes_layers"]:
        example = {"repeat": "repeat(serial(Dense(512), Relu()), 2)"}.get(
            name, f"{name}(Relu(), Identity())"
        )
        return LayerEntry(name, expression=example)
    return LayerEntry(name, dict(_STARTING_VALUES.get(name, {})))


def entry_from_node(node: dict[str, Any]) -> LayerEntry:
    """A spec JSON layer node as a form entry."""
    name = node["layer"]
    if palette()[name]["takes_layers"]:
        return LayerEntry(name, expression=node_to_text(node))
    values = {}
    params = [f.name for f in fields(name)]
    for param, value in zip(params, node["args"], strict=False):
        values[param] = _field_text(value)
    for key, value in node["kwargs"].items():
        values[key] = _field_text(value)
    return LayerEntry(name, values)


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        value = tuple(value)
    return value_to_text(value)


def entries_from_net(net: dict[str, Any]) -> list[LayerEntry]:
    """The chain of a network node: a top-level ``serial`` is unrolled."""
    if net["layer"] == "serial" and not net["kwargs"]:
        return [entry_from_node(n) for n in net["args"]]
    return [entry_from_node(net)]


def net_text(entries: list[LayerEntry]) -> str:
    """``net = serial(...)`` with one layer per line."""
    if not entries:
        return "net = serial()"
    body = "".join(f"    {e.to_text()},\n" for e in entries)
    return f"net = serial(\n{body})"


def settings_text(spec_json: dict[str, Any]) -> str:
    """Every statement but ``net``, as ``Spec.to_text`` writes them."""
    stand_in = {**spec_json, "net": parse(f"net = {_PLACEHOLDER_NET}").to_json()["net"]}
    lines = Spec.from_json(stand_in).to_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("net ="))


def full_text(entries: list[LayerEntry], spec_json: dict[str, Any]) -> str:
    return net_text(entries) + "\n" + settings_text(spec_json) + "\n"


def spec_json_of(text: str) -> dict[str, Any]:
    """Parse `text` (raises :class:`SpecError` with line and column) to plain JSON."""
    # Through json so tuples become lists and the result is exactly what is synced.
    return json.loads(json.dumps(parse(text).to_json()))
