"""The experiment description: ``%%nk`` text <-> JSON <-> runnable Experiment.

The text is Python-shaped so it reads naturally, but it is *parsed* with
:mod:`ast` and checked against whitelists of layer names, dataset names and
literal arguments; nothing in it is ever evaluated. Every error carries the line
and column it refers to. The grammar is documented in ``docs/nk-language.md``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import math
from typing import Any

from .errors import NKError

MAX_SPEC_CHARS = 20_000  # far beyond any real experiment; bounds parser work
MAX_DEPTH = 32  # nesting of layers/literals; deeper is a mistake or an attack
MAX_NUMBER = 2**31  # widths, sizes and step counts all fit well below this
MAX_SEQUENCE = 1_000  # items in one literal list (e.g. training times)

STATEMENTS = ("net", "data", "compute", "predict", "block_size", "dtype", "devices", "cache", "budget")
KERNEL_NAMES = ("nngp", "ntk")
DTYPES = ("float32", "float64")
PREDICTORS = {"gradient_descent_mse": ("t", "learning_rate", "diag_reg")}

# Activation functions a spec may pass to ElementwiseNumerical / Elementwise,
# by name. Resolved lazily so importing the spec module stays cheap.
FUNCTION_NAMES = ("tanh", "sin", "cos", "erf", "relu", "gelu", "sigmoid", "softplus", "silu", "elu")


class SpecError(NKError, ValueError):
    """A ``%%nk`` spec that cannot be run, located at a line and column (1-based)."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None):
        self.message = message
        self.line = line
        self.col = col
        where = f"line {line}, column {col}: " if line is not None else ""
        super().__init__(where + message)

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the user's problem is the
        # spec text, not our stack.
        return [f"\x1b[31mSpecError\x1b[0m: {self}"]


def _layer_registry() -> dict[str, Any]:
    from . import stax

    return {
        name: obj
        for name, obj in vars(stax).items()
        if not name.startswith("_") and callable(obj) and not inspect.isclass(obj)
    }


def _function(name: str) -> Any:
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


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed, validated experiment description.

    ``net`` is a JSON tree: ``{"layer": name, "args": [...], "kwargs": {...}}``
    where nested layers appear as such dicts and functions as
    ``{"function": name}``; ``data`` and ``predict`` are ``{"name", "kwargs"}``.
    """

    net: dict[str, Any]
    data: dict[str, Any] | None = None
    compute: tuple[str, ...] = KERNEL_NAMES
    predict: dict[str, Any] | None = None
    block_size: int = 200
    dtype: str = "float32"
    devices: int | None = None
    cache: str | None = None
    budget: str | int | None = None
    locations: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "net": self.net,
            "data": self.data,
            "compute": list(self.compute),
            "predict": self.predict,
            "block_size": self.block_size,
            "dtype": self.dtype,
            "devices": self.devices,
            "cache": self.cache,
            "budget": self.budget,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Spec:
        """Rebuild from :meth:`to_json` output; validated by round-tripping text."""
        return parse(cls(**{**obj, "compute": tuple(obj["compute"])}).to_text())

    def to_text(self) -> str:
        lines = [f"net = {_node_to_text(self.net)}"]
        if self.data is not None:
            lines.append(f"data = {_call_to_text(self.data)}")
        lines.append(f"compute = {', '.join(self.compute)}")
        if self.predict is not None:
            lines.append(f"predict = {_call_to_text(self.predict)}")
        if self.block_size != 200:
            lines.append(f"block_size = {self.block_size}")
        if self.dtype != "float32":
            lines.append(f"dtype = {self.dtype}")
        if self.devices is not None:
            lines.append(f"devices = {self.devices}")
        if self.cache is not None:
            lines.append(f"cache = {self.cache!r}")
        if self.budget is not None:
            lines.append(f"budget = {self.budget!r}")
        return "\n".join(lines)

    def build_network(self) -> Any:
        return _build(self.net, _layer_registry())

    def to_experiment(self) -> Any:
        from .compute import Experiment, PredictSettings
        from .compute._experiment import describe_network
        from .data import digits

        if self.data is None:
            raise SpecError("the spec has no `data = ...` line; add e.g. `data = digits(train=1000, test=500)`.")
        try:
            dataset = {"digits": digits}[self.data["name"]](**self.data["kwargs"])
        except NKError as e:
            raise SpecError(str(e), *self.locations.get("data", (None, None))) from None
        predict = None
        if self.predict is not None:
            kw = dict(self.predict["kwargs"])
            if "t" in kw:
                kw["t"] = tuple(float(v) for v in kw["t"])
            predict = PredictSettings(**kw)
        return Experiment(
            network=self.build_network(),
            dataset=dataset,
            compute=self.compute,
            predict=predict,
            block_size=self.block_size,
            dtype=self.dtype,
            devices=self.devices,
            cache_dir=self.cache,
            budget=self.budget,
            description=describe_network(self.net),
        )


def parse(text: str) -> Spec:
    """Parse and validate ``%%nk`` text; raise :class:`SpecError` on any problem."""
    if not isinstance(text, str):
        raise SpecError(f"a spec must be text, not {type(text).__name__}.")
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"the spec is {len(text)} characters long; the limit is {MAX_SPEC_CHARS}.")
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as e:
        raise SpecError(f"syntax error: {e.msg}.", e.lineno, e.offset) from None
    except (RecursionError, MemoryError, ValueError) as e:
        raise SpecError(f"the spec is nested too deeply or is not valid text ({type(e).__name__}).") from None

    registry = _layer_registry()
    fields: dict[str, Any] = {}
    locations: dict[str, tuple[int, int]] = {}
    for stmt in tree.body:
        name, value = _assignment(stmt)
        if name in fields:
            raise SpecError(f"`{name}` is set twice; keep one.", *_loc(stmt))
        locations[name] = _loc(stmt)
        if name == "net":
            fields["net"] = _layer_node(value, registry, depth=0)
        elif name == "data":
            fields["data"] = _data_node(value)
        elif name == "compute":
            fields["compute"] = _compute_node(value)
        elif name == "predict":
            fields["predict"] = _predict_node(value)
        elif name == "block_size":
            fields["block_size"] = _positive_int(value, "block_size")
        elif name == "dtype":
            fields["dtype"] = _choice(value, DTYPES, "dtype")
        elif name == "devices":
            fields["devices"] = _positive_int(value, "devices")
        elif name == "cache":
            fields["cache"] = _text(value, "cache", 'a directory, e.g. `cache = "nk-cache"`')
        elif name == "budget":
            fields["budget"] = _budget(value)
    if "net" not in fields:
        raise SpecError(
            "the spec has no `net = ...` line. Fix: add e.g. "
            "`net = serial(Dense(512), Relu(), Dense(10))`.",
            1,
            1,
        )
    spec = Spec(**fields, locations=locations)
    return spec


def _loc(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1


def _assignment(stmt: ast.stmt) -> tuple[str, ast.expr]:
    if not (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        raise SpecError(
            "each line must look like `name = value` with name one of "
            f"{', '.join(STATEMENTS)}.",
            *_loc(stmt),
        )
    name = stmt.targets[0].id
    if name not in STATEMENTS:
        hint = difflib.get_close_matches(name, STATEMENTS, n=1)
        fix = f" Did you mean `{hint[0]}`?" if hint else f" Known: {', '.join(STATEMENTS)}."
        raise SpecError(f"unknown setting `{name}`.{fix}", *_loc(stmt.targets[0]))
    return name, stmt.value


def _layer_node(node: ast.expr, registry: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise SpecError(f"layers are nested more than {MAX_DEPTH} deep.", *_loc(node))
    if isinstance(node, ast.Name) and node.id in registry:
        raise SpecError(
            f"`{node.id}` must be called: write `{node.id}()`.", *_loc(node)
        )
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise SpecError(
            "expected a layer such as `Dense(512)` or `serial(...)`.", *_loc(node)
        )
    name = node.func.id
    if name not in registry:
        hint = difflib.get_close_matches(name, list(registry), n=1)
        fix = f" Did you mean `{hint[0]}`?" if hint else ""
        raise SpecError(f"unknown layer `{name}`.{fix}", *_loc(node.func))
    args = [_argument(a, registry, depth + 1) for a in node.args]
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise SpecError("`**` arguments are not allowed.", *_loc(kw.value))
        kwargs[kw.arg] = _argument(kw.value, registry, depth + 1)
    factory = registry[name]
    _check_signature(factory, name, args, kwargs, node)
    try:
        _build({"layer": name, "args": args, "kwargs": kwargs}, registry)
    except NKError as e:
        raise SpecError(str(e), *_loc(node)) from None
    except (TypeError, ValueError) as e:
        raise SpecError(f"{name}: {e}", *_loc(node)) from None
    return {"layer": name, "args": args, "kwargs": kwargs}


def _check_signature(factory: Any, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = signature.parameters
    takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for kw in node.keywords:
        if kw.arg not in params and not takes_var_kw:
            hint = difflib.get_close_matches(kw.arg or "", list(params), n=1)
            fix = f" Did you mean `{hint[0]}`?" if hint else f" {name} takes: {', '.join(params)}."
            raise SpecError(f"{name} has no argument `{kw.arg}`.{fix}", *_loc(kw.value))
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise SpecError(f"{name}{signature}: {e}.", *_loc(node)) from None


def _argument(node: ast.expr, registry: dict[str, Any], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise SpecError(f"arguments are nested more than {MAX_DEPTH} deep.", *_loc(node))
    if isinstance(node, ast.Call):
        return _layer_node(node, registry, depth)
    if isinstance(node, ast.Name):
        if node.id in FUNCTION_NAMES:
            return {"function": node.id}
        if node.id in registry:
            raise SpecError(f"`{node.id}` must be called: write `{node.id}()`.", *_loc(node))
    return _literal(node, depth)


def _literal(node: ast.expr, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise SpecError(f"values are nested more than {MAX_DEPTH} deep.", *_loc(node))
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, bool | int | float | str)
    ):
        return _bounded(node.value, node)
    if isinstance(node, ast.Name) and node.id in ("inf", "True", "False", "None"):
        return {"inf": math.inf, "True": True, "False": False, "None": None}[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _literal(node.operand, depth + 1)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError("a sign can only precede a number.", *_loc(node))
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Tuple | ast.List):
        if len(node.elts) > MAX_SEQUENCE:
            raise SpecError(f"a list may hold at most {MAX_SEQUENCE} items.", *_loc(node))
        items = [_literal(e, depth + 1) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    what = type(node).__name__
    if isinstance(node, ast.Name):
        what = f"the name `{node.id}`"
    raise SpecError(
        f"{what} is not allowed here; arguments must be numbers, strings, True/False/None, "
        f"inf, lists or tuples of those, layers, or one of the functions {', '.join(FUNCTION_NAMES)}.",
        *_loc(node),
    )


def _bounded(value: Any, node: ast.AST) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise SpecError(f"the number {value:.3g} is too large (limit {MAX_NUMBER}).", *_loc(node))
    if isinstance(value, str) and len(value) > 200:
        raise SpecError("strings are limited to 200 characters.", *_loc(node))
    return value


def _call(node: ast.expr, allowed: dict[str, tuple[str, ...]], what: str) -> dict[str, Any]:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise SpecError(f"expected {what} such as `{next(iter(allowed))}(...)`.", *_loc(node))
    name = node.func.id
    if name not in allowed:
        hint = difflib.get_close_matches(name, list(allowed), n=1)
        fix = f" Did you mean `{hint[0]}`?" if hint else f" Known: {', '.join(allowed)}."
        raise SpecError(f"unknown {what} `{name}`.{fix}", *_loc(node.func))
    if node.args:
        raise SpecError(f"{name} takes keyword arguments only, e.g. `{name}({allowed[name][0]}=...)`.", *_loc(node.args[0]))
    kwargs = {}
    for kw in node.keywords:
        if kw.arg not in allowed[name]:
            hint = difflib.get_close_matches(kw.arg or "", allowed[name], n=1)
            fix = f" Did you mean `{hint[0]}`?" if hint else f" {name} takes: {', '.join(allowed[name])}."
            raise SpecError(f"{name} has no argument `{kw.arg}`.{fix}", *_loc(kw.value))
        kwargs[kw.arg] = _literal(kw.value)
    return {"name": name, "kwargs": kwargs}


def _data_node(node: ast.expr) -> dict[str, Any]:
    data = _call(node, {"digits": ("train", "test", "seed", "images")}, "dataset")
    for key, value in data["kwargs"].items():
        if key == "images":
            if not isinstance(value, bool):
                raise SpecError(f"digits(images=...) must be True or False, not {value!r}.", *_loc(node))
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
            raise SpecError(f"digits({key}=...) must be a positive integer, not {value!r}.", *_loc(node))
    return data


def _predict_node(node: ast.expr) -> dict[str, Any] | None:
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    predict = _call(node, PREDICTORS, "prediction")
    kw = predict["kwargs"]
    if "t" in kw:
        t = kw["t"] if isinstance(kw["t"], list | tuple) else [kw["t"]]
        if not t or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in t):
            raise SpecError("`t` must be a non-empty list of training times >= 0 (inf allowed).", *_loc(node))
        kw["t"] = list(t)
    for key in ("learning_rate", "diag_reg"):
        if key in kw and (isinstance(kw[key], bool) or not isinstance(kw[key], int | float) or kw[key] < 0):
            raise SpecError(f"`{key}` must be a non-negative number.", *_loc(node))
    return predict


def _compute_node(node: ast.expr) -> tuple[str, ...]:
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    names = []
    for item in items:
        if not isinstance(item, ast.Name) or item.id not in KERNEL_NAMES:
            raise SpecError("`compute` lists kernels: nngp, ntk or `nngp, ntk`.", *_loc(item))
        names.append(item.id)
    return tuple(dict.fromkeys(names))


def _positive_int(node: ast.expr, what: str) -> int:
    value = _literal(node)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"`{what}` must be a positive integer.", *_loc(node))
    return value


def _text(node: ast.expr, what: str, example: str) -> str:
    value = _literal(node)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"`{what}` must be a quoted, non-empty string: {example}.", *_loc(node))
    return value


def _budget(node: ast.expr) -> str | int:
    from .compute._memory import parse_budget

    value = _literal(node)
    try:
        if isinstance(value, float):
            raise ValueError("`budget` takes bytes, a size such as \"8GB\", or a share such as \"50%\".")
        parse_budget(value)
    except ValueError as e:
        raise SpecError(str(e), *_loc(node)) from None
    return value


def _choice(node: ast.expr, choices: tuple[str, ...], what: str) -> str:
    if isinstance(node, ast.Name) and node.id in choices:
        return node.id
    if isinstance(node, ast.Constant) and node.value in choices:
        return node.value
    raise SpecError(f"`{what}` must be one of {', '.join(choices)}.", *_loc(node))


def _build(node: Any, registry: dict[str, Any]) -> Any:
    if isinstance(node, dict) and "layer" in node:
        args = [_build(a, registry) for a in node["args"]]
        kwargs = {k: _build(v, registry) for k, v in node["kwargs"].items()}
        return registry[node["layer"]](*args, **kwargs)
    if isinstance(node, dict) and "function" in node:
        return _function(node["function"])
    if isinstance(node, list):
        return [_build(v, registry) for v in node]
    if isinstance(node, tuple):
        return tuple(_build(v, registry) for v in node)
    return node


def _value_to_text(value: Any) -> str:
    if isinstance(value, dict) and "layer" in value:
        return _node_to_text(value)
    if isinstance(value, dict) and "function" in value:
        return value["function"]
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return "[" + ", ".join(_value_to_text(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_value_to_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _node_to_text(node: dict[str, Any]) -> str:
    parts = [_value_to_text(a) for a in node["args"]]
    parts += [f"{k}={_value_to_text(v)}" for k, v in node["kwargs"].items()]
    return f"{node['layer']}({', '.join(parts)})"


def _call_to_text(call: dict[str, Any]) -> str:
    parts = [f"{k}={_value_to_text(v)}" for k, v in call["kwargs"].items()]
    return f"{call['name']}({', '.join(parts)})"
