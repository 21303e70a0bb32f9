"""Exceptions raised by nkwidgets.

Every error a user can cause derives from :class:`NKError`, so notebooks and the
CLI can tell "you asked for something wrong" apart from bugs. Messages say what
was wrong and what to do about it.
"""

from __future__ import annotations

DOCS_ERRORS_URL = "https://github.com/nkwidgets/nkwidgets/blob/main/docs/errors.md"


class NKError(Exception):
    """Base class of every error nkwidgets raises on purpose."""


class LayerError(NKError, ValueError):
    """A layer was built or called with something it cannot handle.

    ``path`` locates the layer inside nested combinators, outermost first, e.g.
    ``["serial[3]", "parallel[1]", "Relu"]``, so a message can say *which*
    ``Relu`` of a deep network failed.
    """

    def __init__(self, layer: str, problem: str, fix: str | None = None):
        self.path = [layer]
        self.problem = problem
        self.fix = fix
        super().__init__(self._render())

    def inside(self, position: str) -> LayerError:
        """Prefix the path with the combinator position that contains the layer."""
        self.path.insert(0, position)
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        where = " > ".join(self.path)
        text = f"{where}: {self.problem}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

    def __str__(self) -> str:
        return self._render()


class InputError(NKError, ValueError):
    """Inputs (data arrays) that no kernel can be computed from: shapes, NaNs."""
