"""``%%nk`` text -> a validated JSON tree, by :mod:`ast` against the vocabulary.

Nothing is evaluated: the text is parsed into a syntax tree, and each node is
accepted only if it has one of the shapes documented in docs/nk-language.md.
Layer calls are built once (calling a whitelisted factory with literal
arguments) so bad values are reported at the layer. Every error is a
:class:`SpecError` with a line and a character column.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import re
import warnings
from typing import Any

from ..errors import NKError
from ._error import SpecError, describe_node, short_repr
from ._slice_syntax import SliceReader, index_value
from ._vocabulary import (
    ARGUMENT_LIMITS,
    CONSTANTS,
    DATASETS,
    DTYPES,
    FUNCTION_NAMES,
    KERNEL_NAMES,
    MAX_DEPTH,
    MAX_NUMBER,
    MAX_SEQUENCE,
    MAX_SPEC_CHARS,
    MAX_STRING,
    PREDICTORS,
    SLICE_NAME,
    STATEMENTS,
    function,
    layer_registry,
    parameter_text,
)

# NUL and lone surrogates (what undecodable bytes become under
# "surrogateescape") make `ast.parse` fail without a position; find them first.
_UNPARSEABLE = re.compile("[\x00\ud800-\udfff]")


def parse_fields(
    text: str | bytes,
) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """The validated settings of a spec and where each one is written."""
    text = _as_text(text)
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(
            f"the spec is {len(text)} characters long; the limit is {MAX_SPEC_CHARS}. "
            "Fix: a spec describes one experiment in a few lines; remove what is not needed.",
            *_position(text, MAX_SPEC_CHARS),
        )
    bad = _UNPARSEABLE.search(text)
    if bad is not None:
        raise SpecError(
            f"the character U+{ord(bad.group()):04X} is not allowed in a spec "
            "(a NUL byte or undecodable text). Fix: delete it.",
            *_position(text, bad.start()),
        )
    try:
        with warnings.catch_warnings():
            # SyntaxWarnings (e.g. "invalid escape sequence") are about Python
            # source; the spec's own checks say what matters here.
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="exec")
    except SyntaxError as e:
        line = e.lineno or 1
        raise SpecError(
            f"syntax error: {e.msg}.", line, max(e.offset or 1, 1)
        ) from None
    except (RecursionError, MemoryError, ValueError) as e:
        raise SpecError(
            f"the spec is nested too deeply to read ({type(e).__name__}). "
            f"Fix: nest layers and values at most {MAX_DEPTH} deep.",
            1,
            1,
        ) from None
    return _Checker(text).fields(tree)


def build(node: Any, registry: dict[str, Any]) -> Any:
    """The Python object a JSON tree (from the parser) stands for."""
    if isinstance(node, dict) and "layer" in node:
        args = [build(a, registry) for a in node["args"]]
        kwargs = {k: build(v, registry) for k, v in node["kwargs"].items()}
        return registry[node["layer"]](*args, **kwargs)
    if isinstance(node, dict) and "function" in node:
        return function(node["function"])
    if isinstance(node, dict) and "slice" in node:
        return index_value(node["slice"])
    if isinstance(node, list):
        return [build(v, registry) for v in node]
    if isinstance(node, tuple):
        return tuple(build(v, registry) for v in node)
    return node


def _as_text(text: Any) -> str:
    if isinstance(text, bytes | bytearray):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            line = text.count(b"\n", 0, e.start) + 1
            line_start = text.rfind(b"\n", 0, e.start) + 1
            col = len(text[line_start : e.start].decode("utf-8", errors="replace")) + 1
            raise SpecError(
                f"the spec is not UTF-8 text (byte 0x{text[e.start]:02X}). "
                "Fix: save the file as UTF-8.",
                line,
                col,
            ) from None
    if not isinstance(text, str):
        raise SpecError(f"a spec must be text, not {type(text).__name__}.", 1, 1)
    return text


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


class _Checker:
    """Walks one parsed spec; knows its lines, to turn byte offsets into columns."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.registry = layer_registry()

    def loc(self, node: ast.AST) -> tuple[int, int]:
        line = getattr(node, "lineno", 1)
        offset = getattr(node, "col_offset", 0)
        # `ast` counts UTF-8 bytes; an editor counts characters.
        if 0 < line <= len(self.lines):
            prefix = self.lines[line - 1].encode("utf-8")[:offset]
            offset = len(prefix.decode("utf-8", errors="ignore"))
        return line, offset + 1

    def fields(
        self, tree: ast.Module
    ) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
        fields: dict[str, Any] = {}
        locations: dict[str, tuple[int, int]] = {}
        for stmt in tree.body:
            name, value = self.assignment(stmt)
            if name in fields:
                raise SpecError(f"`{name}` is set twice; keep one.", *self.loc(stmt))
            locations[name] = self.loc(stmt)
            fields[name] = self.setting(name, value)
        if "net" not in fields:
            raise SpecError(
                "the spec has no `net = ...` line. Fix: add e.g. "
                "`net = serial(Dense(512), Relu(), Dense(10))`.",
                1,
                1,
            )
        return fields, locations

    def setting(self, name: str, value: ast.expr) -> Any:
        if name == "net":
            return self.layer(value, depth=0)
        if name == "data":
            return self.data(value)
        if name == "compute":
            return self.compute(value)
        if name == "predict":
            return self.predict(value)
        if name == "block_size":
            return self.block_size(value)
        if name == "devices":
            return self.positive_int(value, name)
        if name == "dtype":
            return self.choice(value, DTYPES, "dtype")
        if name == "cache":
            return self.text(value, "cache", 'a directory, e.g. `cache = "nk-cache"`')
        return self.budget(value)

    def assignment(self, stmt: ast.stmt) -> tuple[str, ast.expr]:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            raise SpecError(
                "each line must look like `name = value` with name one of "
                f"{', '.join(STATEMENTS)}.",
                *self.loc(stmt),
            )
        name = stmt.targets[0].id
        if name not in STATEMENTS:
            raise SpecError(
                f"unknown setting `{name}`.{_did_you_mean(name, STATEMENTS)}",
                *self.loc(stmt.targets[0]),
            )
        return name, stmt.value

    def layer(self, node: ast.expr, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise SpecError(
                f"layers are nested more than {MAX_DEPTH} deep.", *self.loc(node)
            )
        if isinstance(node, ast.Name) and node.id in self.registry:
            raise SpecError(
                f"`{node.id}` must be called: write `{node.id}()`.", *self.loc(node)
            )
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise SpecError(
                "expected a layer such as `Dense(512)` or `serial(...)`.",
                *self.loc(node),
            )
        name = node.func.id
        if name == SLICE_NAME:
            raise SpecError(
                f"`{SLICE_NAME}` is indexed with brackets, not called. "
                f"Fix: write e.g. `Index({SLICE_NAME}[:, 1:3])`.",
                *self.loc(node),
            )
        if name not in self.registry:
            raise SpecError(
                f"unknown layer `{name}`.{_did_you_mean(name, self.registry, known=False)}",
                *self.loc(node.func),
            )
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise SpecError("`*` arguments are not allowed.", *self.loc(a))
            args.append(self.argument(a, depth + 1))
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise SpecError("`**` arguments are not allowed.", *self.loc(kw.value))
            kwargs[kw.arg] = self.argument(kw.value, depth + 1)
        self.check_signature(name, args, kwargs, node)
        tree = {"layer": name, "args": args, "kwargs": kwargs}
        try:
            with warnings.catch_warnings():
                # The network is built again to run; warn then, not twice.
                warnings.simplefilter("ignore")
                build(tree, self.registry)
        except NKError as e:
            raise SpecError(str(e), *self.loc(node)) from None
        except Exception as e:  # noqa: BLE001 - any failure on literal arguments is the spec's
            raise SpecError(
                f"{name}: {type(e).__name__}: {e}", *self.loc(node)
            ) from None
        return tree

    def check_signature(
        self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call
    ) -> None:
        signature = inspect.signature(self.registry[name])
        params = signature.parameters
        takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for kw in node.keywords:
            if kw.arg not in params and not takes_var_kw:
                fix = (
                    _did_you_mean(kw.arg or "", params, known=False)
                    or f" {name} takes: {', '.join(params)}."
                )
                raise SpecError(
                    f"{name} has no argument `{kw.arg}`.{fix}", *self.loc(kw.value)
                )
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise SpecError(
                f"{name}{_plain(signature)}: {e}.", *self.loc(node)
            ) from None
        for key, limit in ARGUMENT_LIMITS.items():
            value = bound.arguments.get(key)
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and value > limit
            ):
                raise SpecError(
                    f"{name}({key}={short_repr(value)}): the limit is {limit}; building the layer "
                    f"takes work that grows with `{key}`. Fix: use {key} <= {limit}.",
                    *self.loc(node),
                )

    def argument(self, node: ast.expr, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise SpecError(
                f"arguments are nested more than {MAX_DEPTH} deep.", *self.loc(node)
            )
        if isinstance(node, ast.Call):
            return self.layer(node, depth)
        if isinstance(node, ast.Subscript):
            return self.slice(node)
        if isinstance(node, ast.Name):
            if node.id == SLICE_NAME:
                raise SpecError(
                    f"`{SLICE_NAME}` alone is not an index. "
                    f"Fix: index it, e.g. `{SLICE_NAME}[:, 1:3]` or `{SLICE_NAME}[..., 0]`.",
                    *self.loc(node),
                )
            if node.id in FUNCTION_NAMES:
                return {"function": node.id}
            if node.id in self.registry:
                raise SpecError(
                    f"`{node.id}` must be called: write `{node.id}()`.", *self.loc(node)
                )
        return self.literal(node, depth)

    def literal(self, node: ast.expr, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise SpecError(
                f"values are nested more than {MAX_DEPTH} deep.", *self.loc(node)
            )
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, bool | int | float | str)
        ):
            return self.bounded(node.value, node)
        if isinstance(node, ast.Name) and node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self.literal(node.operand, depth + 1)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SpecError("a sign can only precede a number.", *self.loc(node))
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Tuple | ast.List):
            if len(node.elts) > MAX_SEQUENCE:
                raise SpecError(
                    f"a list may hold at most {MAX_SEQUENCE} items.", *self.loc(node)
                )
            items = [self.literal(e, depth + 1) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        what = (
            f"the name `{node.id}`"
            if isinstance(node, ast.Name)
            else describe_node(node)
        )
        raise SpecError(
            f"{what} is not allowed here; arguments must be numbers, strings, True/False/None, "
            f"inf, lists or tuples of those, layers, or one of the functions {', '.join(FUNCTION_NAMES)}.",
            *self.loc(node),
        )

    def slice(self, node: ast.Subscript) -> dict[str, Any]:
        return SliceReader(self.loc, self.bounded).read(node)

    def bounded(self, value: Any, node: ast.AST) -> Any:
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and abs(value) > MAX_NUMBER
        ):
            # Not `:g`: an integer literal can be too large for a float.
            digits = len(str(abs(value)))
            raise SpecError(
                f"an integer with {digits} digits is too large (limit {MAX_NUMBER}).",
                *self.loc(node),
            )
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise SpecError(
                f"strings are limited to {MAX_STRING} characters.", *self.loc(node)
            )
        return value

    def call(
        self, node: ast.expr, allowed: dict[str, tuple[str, ...]], what: str
    ) -> dict[str, Any]:
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise SpecError(
                f"expected {what} such as `{next(iter(allowed))}(...)`.",
                *self.loc(node),
            )
        name = node.func.id
        if name not in allowed:
            raise SpecError(
                f"unknown {what} `{name}`.{_did_you_mean(name, allowed)}",
                *self.loc(node.func),
            )
        if node.args:
            raise SpecError(
                f"{name} takes keyword arguments only, e.g. `{name}({allowed[name][0]}=...)`.",
                *self.loc(node.args[0]),
            )
        kwargs = {}
        for kw in node.keywords:
            if kw.arg not in allowed[name]:
                fix = (
                    _did_you_mean(kw.arg or "", allowed[name], known=False)
                    or f" {name} takes: {', '.join(allowed[name])}."
                )
                raise SpecError(
                    f"{name} has no argument `{kw.arg}`.{fix}", *self.loc(kw.value)
                )
            kwargs[kw.arg] = self.literal(kw.value)
        return {"name": name, "kwargs": kwargs}

    def data(self, node: ast.expr) -> dict[str, Any]:
        data = self.call(node, DATASETS, "dataset")
        for key, value in data["kwargs"].items():
            if key == "images":
                if not isinstance(value, bool):
                    raise SpecError(
                        f"digits(images=...) must be True or False, not {short_repr(value)}.",
                        *self.loc(node),
                    )
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (0 if key == "seed" else 1)
            ):
                raise SpecError(
                    f"digits({key}=...) must be a positive integer, not {short_repr(value)}.",
                    *self.loc(node),
                )
        return data

    def predict(self, node: ast.expr) -> dict[str, Any] | None:
        if isinstance(node, ast.Constant) and node.value is None:
            return None
        predict = self.call(node, PREDICTORS, "prediction")
        kw = predict["kwargs"]
        if "t" in kw:
            t = kw["t"] if isinstance(kw["t"], list | tuple) else [kw["t"]]
            if not t or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
                for v in t
            ):
                raise SpecError(
                    "`t` must be a non-empty list of training times >= 0 (inf allowed).",
                    *self.loc(node),
                )
            kw["t"] = list(t)
        for key in ("learning_rate", "diag_reg"):
            if key in kw and (
                isinstance(kw[key], bool)
                or not isinstance(kw[key], int | float)
                or not kw[key] >= 0
            ):
                raise SpecError(
                    f"`{key}` must be a non-negative number.", *self.loc(node)
                )
        return predict

    def compute(self, node: ast.expr) -> tuple[str, ...]:
        items = node.elts if isinstance(node, ast.Tuple) else [node]
        names = []
        for item in items:
            if not isinstance(item, ast.Name) or item.id not in KERNEL_NAMES:
                raise SpecError(
                    "`compute` lists kernels: nngp, ntk or `nngp, ntk`.",
                    *self.loc(item),
                )
            names.append(item.id)
        if not names:
            raise SpecError(
                "`compute` lists kernels: nngp, ntk or `nngp, ntk`.", *self.loc(node)
            )
        return tuple(dict.fromkeys(names))

    def positive_int(self, node: ast.expr, what: str) -> int:
        value = self.literal(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(f"`{what}` must be a positive integer.", *self.loc(node))
        return value

    def block_size(self, node: ast.expr) -> int | str:
        from ..compute._block_size import AUTO

        # A bare `auto` (like `dtype = float64`) or the quoted word.
        if (isinstance(node, ast.Name) and node.id == AUTO) or (
            isinstance(node, ast.Constant) and node.value == AUTO
        ):
            return AUTO
        value = None if isinstance(node, ast.Name) else self.literal(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(
                "`block_size` must be a positive integer (rows and columns per "
                f"block) or {AUTO} (chosen from the memory estimate).",
                *self.loc(node),
            )
        return value

    def text(self, node: ast.expr, what: str, example: str) -> str:
        value = self.literal(node)
        if not isinstance(value, str) or not value.strip():
            raise SpecError(
                f"`{what}` must be a quoted, non-empty string: {example}.",
                *self.loc(node),
            )
        return value

    def budget(self, node: ast.expr) -> str | int:
        from ..compute._memory import parse_budget

        value = self.literal(node)
        try:
            if isinstance(value, float | bool) or not isinstance(value, int | str):
                raise ValueError(
                    '`budget` takes bytes, a size such as "8GB", or a share such as "50%".'
                )
            parse_budget(value)
        except (ValueError, TypeError, OverflowError) as e:
            raise SpecError(str(e), *self.loc(node)) from None
        return value

    def choice(self, node: ast.expr, choices: tuple[str, ...], what: str) -> str:
        if isinstance(node, ast.Name) and node.id in choices:
            return node.id
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in choices
        ):
            return node.value
        raise SpecError(
            f"`{what}` must be one of {', '.join(choices)}.", *self.loc(node)
        )


def _did_you_mean(name: str, candidates: Any, known: bool = True) -> str:
    """ " Did you mean `x`?" for a near miss; else the known names (or nothing)."""
    names = list(candidates)
    # difflib is quadratic in the lengths; a name this long is no near miss.
    hint = difflib.get_close_matches(name, names, n=1) if len(name) <= 100 else []
    if hint:
        return f" Did you mean `{hint[0]}`?"
    return f" Known: {', '.join(names)}." if known else ""


def _plain(signature: inspect.Signature) -> str:
    return (
        "(" + ", ".join(parameter_text(p) for p in signature.parameters.values()) + ")"
    )
