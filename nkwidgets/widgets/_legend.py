"""Legends as a row of HTML above a figure, where they hide no data.

bqplot draws its legend inside the plot area, in a corner that is often where
the data are, and sizes the box from an estimate that runs wide in JupyterLab
(it covered points and tick labels in the tutorials' screenshots). A line of
HTML outside the figure has neither problem and follows the theme's colours.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Literal

SwatchKind = Literal["solid", "dashed", "dotted", "dot", "diamond", "square"]

_LINE = (
    '<span style="display:inline-block;width:22px;border-top:3px {style} {colour};'
    'vertical-align:middle;margin:0 4px 0 12px"></span>'
)
_SHAPE = (
    '<span style="display:inline-block;width:{size}px;height:{size}px;'
    'background:{colour};{shape}vertical-align:middle;margin:0 4px 0 12px"></span>'
)
_SHAPES = {
    "dot": (10, "border-radius:50%;"),
    "diamond": (8, "transform:rotate(45deg);"),
    "square": (10, ""),
}


def swatch(kind: SwatchKind, colour: str) -> str:
    """The mark's sample: a short line of ``kind``'s style, or a filled shape."""
    if kind in _SHAPES:
        size, shape = _SHAPES[kind]
        return _SHAPE.format(size=size, colour=colour, shape=shape)
    return _LINE.format(style=kind, colour=colour)


def legend_row(entries: Iterable[tuple[SwatchKind, str, str]]) -> str:
    """``(kind, colour, label)`` entries as one line of HTML; labels are escaped."""
    parts = [swatch(kind, colour) + escape(label) for kind, colour, label in entries]
    return f'<div style="color: var(--jp-ui-font-color1)">{"".join(parts)}</div>'
