"""The network as a picture: one box per layer, top to bottom, as inline SVG.

Colours say what a layer does to the kernel (Okabe & Ito palette): affine maps
blue, nonlinearities orange, spatial reductions green, branching pink, the rest
grey. Text and strokes use JupyterLab's CSS variables, so the picture follows the
light or dark theme.
"""

from __future__ import annotations

import html

from ._architecture_model import LayerEntry

_KINDS = {
    "affine": (
        {
            "Dense",
            "Conv",
            "ConvLocal",
            "ConvTranspose",
            "GlobalSelfAttention",
            "Aggregate",
        },
        "#0072B2",
    ),
    "pooling": (
        {
            "AvgPool",
            "SumPool",
            "MaxPool",
            "GlobalAvgPool",
            "GlobalSumPool",
            "Flatten",
            "ImageResize",
            "Index",
        },
        "#009E73",
    ),
    "branching": (
        {
            "serial",
            "parallel",
            "FanOut",
            "FanInSum",
            "FanInConcat",
            "FanInProd",
            "repeat",
        },
        "#CC79A7",
    ),
    "other": ({"Identity", "Dropout", "LayerNorm"}, "#999999"),
}
_NONLINEAR_COLOUR = "#E69F00"

BOX_WIDTH = 300
BOX_HEIGHT = 30
GAP = 16
MAX_LABEL = 42


def layer_colour(name: str) -> str:
    for names, colour in _KINDS.values():
        if name in names:
            return colour
    return _NONLINEAR_COLOUR


def _label(entry: LayerEntry) -> str:
    text = entry.to_text()
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def diagram_svg(
    entries: list[LayerEntry], invalid: set[int] | None = None, output: str = ""
) -> str:
    """SVG of input → layers → output; `invalid` rows are outlined in the error colour."""
    invalid = invalid or set()
    rows = ["input", *[_label(e) for e in entries], output or "output"]
    height = len(rows) * (BOX_HEIGHT + GAP)
    width = BOX_WIDTH + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="network diagram">'
    ]
    for i, text in enumerate(rows):
        y = i * (BOX_HEIGHT + GAP) + 4
        is_layer = 0 < i < len(rows) - 1
        entry = entries[i - 1] if is_layer else None
        fill = layer_colour(entry.name) if entry else "none"
        stroke = (
            "var(--jp-error-color1)"
            if is_layer and (i - 1) in invalid
            else "var(--jp-border-color1)"
        )
        dash = "" if is_layer else ' stroke-dasharray="4 3"'
        parts.append(
            f'<rect x="10" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" '
            f'style="fill: {fill}; fill-opacity: {0.25 if entry else 0}; stroke: {stroke}; '
            f'stroke-width: {2.5 if is_layer and (i - 1) in invalid else 1.2}"{dash}/>'
        )
        parts.append(
            f'<text x="{10 + BOX_WIDTH / 2}" y="{y + BOX_HEIGHT / 2 + 4}" text-anchor="middle" '
            'style="fill: var(--jp-ui-font-color1); font-family: var(--jp-code-font-family); '
            f'font-size: 12px">{html.escape(text)}</text>'
        )
        if i < len(rows) - 1:
            x = 10 + BOX_WIDTH / 2
            y0, y1 = y + BOX_HEIGHT, y + BOX_HEIGHT + GAP
            parts.append(
                f'<path d="M {x} {y0} L {x} {y1 - 2} M {x - 4} {y1 - 7} L {x} {y1 - 2} L {x + 4} {y1 - 7}" '
                'style="stroke: var(--jp-ui-font-color2); fill: none; stroke-width: 1.2"/>'
            )
    parts.append("</svg>")
    return "".join(parts)
