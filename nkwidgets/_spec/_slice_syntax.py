"""``Slice[...]``: the one indexing the spec language allows, to build Index's index.

Read from the syntax tree into JSON (an entry is an int, ``"..."`` or
``{"start", "stop", "step"}``; a tuple index is a list of entries) and turned
back into the Python index by :func:`index_value`. Nothing is evaluated.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from ._error import SpecError, describe_node, short_repr
from ._vocabulary import MAX_SEQUENCE, SLICE_NAME

#: How ``...`` (Ellipsis) is written in a ``{"slice": ...}`` node.
ELLIPSIS_TEXT = "..."
_NOT_A_VALUE = object()


def index_value(index: Any) -> Any:
    """What ``Slice[...]`` returns for the JSON of a ``{"slice": ...}`` node.

    A list is a tuple index (``Slice[:, 1:3]``), anything else one entry
    (``Slice[1:3]``); an entry is an int, ``"..."`` or ``{"start", "stop", "step"}``.
    """
    if isinstance(index, list | tuple):
        return tuple(index_value(i) for i in index)
    if index == ELLIPSIS_TEXT:
        return Ellipsis
    if isinstance(index, dict):
        return slice(index["start"], index["stop"], index["step"])
    return index


class SliceReader:
    """Reads ``Slice[...]`` nodes, locating errors and bounding integers as the parser does.

    Args:
      loc: (line, column) of a node, for errors.
      bounded: the parser's size check of a literal value (returns it).
    """

    def __init__(
        self,
        loc: Callable[[ast.AST], tuple[int, int]],
        bounded: Callable[[Any, ast.AST], Any],
    ):
        self.loc = loc
        self.bounded = bounded

    def read(self, node: ast.Subscript) -> dict[str, Any]:
        """``Slice[...]`` as ``{"slice": entries}``, read from the syntax tree."""
        if not (isinstance(node.value, ast.Name) and node.value.id == SLICE_NAME):
            raise SpecError(
                f"indexing (`a[i]`) is allowed only on `{SLICE_NAME}`, to build an "
                f"index for Index. Fix: e.g. `Index({SLICE_NAME}[:, 1:3])`.",
                *self.loc(node),
            )
        index = node.slice
        if not isinstance(index, ast.Tuple):
            return {"slice": self.entry(index)}
        if len(index.elts) > MAX_SEQUENCE:
            raise SpecError(
                f"an index may hold at most {MAX_SEQUENCE} entries.", *self.loc(node)
            )
        entries = []
        for element in index.elts:
            entry = self.entry(element)
            if entry == ELLIPSIS_TEXT and ELLIPSIS_TEXT in entries:
                raise SpecError(
                    "an index may hold at most one `...`. Fix: remove this one.",
                    *self.loc(element),
                )
            entries.append(entry)
        return {"slice": entries}

    def entry(self, node: ast.expr) -> int | str | dict[str, int | None]:
        """One entry of ``Slice[...]``: an integer, ``...`` or ``start:stop:step``."""
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            return ELLIPSIS_TEXT
        if isinstance(node, ast.Slice):
            bounds = {
                "start": self.integer(node.lower, node, bound=True),
                "stop": self.integer(node.upper, node, bound=True),
                "step": self.integer(node.step, node, bound=True),
            }
            if bounds["step"] == 0:
                raise SpecError(
                    "a slice step cannot be zero. Fix: use a nonzero step such as "
                    "`::2` or `::-1`, or leave it out.",
                    *self.loc(node.step or node),
                )
            return bounds
        return self.integer(node, node, bound=False)

    def integer(self, node: ast.expr | None, entry: ast.AST, bound: bool) -> int | None:
        """An integer entry or slice bound (``None`` or absent for a bound)."""
        if node is None:
            return None
        value: Any = _NOT_A_VALUE
        inner = node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = node.operand
        if isinstance(inner, ast.Constant):
            value = inner.value
            if (
                inner is not node
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                value = -value if isinstance(node.op, ast.USub) else value
        if isinstance(value, int) and not isinstance(value, bool):
            return self.bounded(value, node)
        if bound and inner is node and value is None:
            return None
        accepted = (
            f"`{SLICE_NAME}[...]` takes integers (`0`, `-1`), slices with integer "
            "bounds (`1:3`, `::2`, `:`) and one `...`"
        )
        where = "a slice bound" if bound else "an index entry"
        if inner is not node and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            problem = "a sign can only precede a number"
            fix = "write e.g. `Slice[-1]` or `Slice[:-1]`"
        elif isinstance(node, ast.Name):
            problem = (
                f"the name `{node.id}` cannot be {where}: names are never looked up"
            )
            fix = "write the number itself, e.g. `Slice[:, 1:3]`"
        elif isinstance(value, float):
            problem = f"`{short_repr(value)}` is not an integer"
            fix = "use an integer, e.g. `Slice[1]` or `Slice[1:2]`"
        elif isinstance(value, bool):
            problem = f"`{value}` cannot be {where} (Index takes no boolean masks)"
            fix = "use integers or slices, e.g. `Slice[:, 1:3]`"
        elif value is None:
            problem = (
                "`None` (a new axis) cannot be an index entry, as Index adds no axes"
            )
            fix = "use `:` to keep an axis whole, e.g. `Slice[:, 1:3]`"
        elif isinstance(node, ast.Tuple | ast.List):
            problem = f"a {'list' if isinstance(node, ast.List) else 'tuple'} cannot be {where} (no fancy indexing)"
            fix = "use a slice such as `1:3` instead of a list of positions"
        else:
            problem = f"{describe_node(node)} cannot be {where}"
            fix = "write literal integers, e.g. `Slice[:, 1:3]` or `Slice[..., 0]`"
        raise SpecError(f"{problem}; {accepted}. Fix: {fix}.", *self.loc(node))
