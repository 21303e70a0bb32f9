"""The one error a spec can raise: what is wrong, where (1-based line, column), the fix.

Also how its messages name what they quote: syntax (``describe_node``) and values
(``short_repr``).
"""

from __future__ import annotations

import ast
from typing import Any

from ..errors import NKError


class SpecError(NKError, ValueError):
    """A ``%%nk`` spec that cannot be run, located at a line and column (1-based).

    Columns count characters (code points) of the spec's line, not UTF-8 bytes, so
    an editor can put a marker under the right character.
    """

    def __init__(self, message: str, line: int | None = None, col: int | None = None):
        self.message = message
        self.line = line
        self.col = col
        where = f"line {line}, column {col}: " if line is not None else ""
        super().__init__(where + message)

    def diagnostic(self) -> dict[str, object] | None:
        """``{line, col, message}`` for an editor marker; None when not located."""
        if self.line is None:
            return None
        return {"line": self.line, "col": self.col or 1, "message": self.message}

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the user's problem is the
        # spec text, not our stack.
        return [f"\x1b[31mSpecError\x1b[0m: {self}"]


_NODE_WORDS = {
    ast.Attribute: "attribute access (`a.b`)",
    ast.Subscript: "indexing (`a[i]`)",
    ast.Lambda: "a lambda",
    ast.BinOp: "arithmetic",
    ast.BoolOp: "`and`/`or`",
    ast.Compare: "a comparison",
    ast.IfExp: "`x if c else y`",
    ast.JoinedStr: "an f-string",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.Starred: "`*` unpacking",
    ast.NamedExpr: "`:=`",
    ast.Await: "`await`",
    ast.Yield: "`yield`",
    ast.YieldFrom: "`yield from`",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.UnaryOp: "an operator other than a leading sign",
    ast.Call: "a call",
}


def describe_node(node: ast.AST) -> str:
    """How an error names a piece of syntax the spec language does not allow."""
    if isinstance(node, ast.Constant):
        return f"a {type(node.value).__name__} constant"
    return _NODE_WORDS.get(type(node), f"a {type(node).__name__} expression")


def short_repr(value: Any) -> str:
    """A value as an error quotes it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
