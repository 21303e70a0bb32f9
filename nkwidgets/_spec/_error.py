"""The one error a spec can raise: what is wrong, where (1-based line, column), the fix."""

from __future__ import annotations

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
