"""Colours and small HTML pieces every nkwidgets view shares."""

from __future__ import annotations

import html

KERNEL_TITLES = {"nngp": "NNGP", "ntk": "NTK"}
#: Colour-blind-safe pair (Okabe & Ito): NNGP orange, NTK blue, in every plot.
KERNEL_COLOURS = {"nngp": "#E69F00", "ntk": "#0072B2"}
#: Marks that are neither kernel (targets, markers): a mid grey that reads on
#: JupyterLab's light and dark themes alike (SVG attributes take no CSS variables).
NEUTRAL = "#888888"


def error_html(text: str) -> str:
    """An error message in the theme's error colour, wrapped, never as raw HTML."""
    return (
        '<pre style="color: var(--jp-error-color1); white-space: pre-wrap">'
        f"{html.escape(text)}</pre>"
    )
