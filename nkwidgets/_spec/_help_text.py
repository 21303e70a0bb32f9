"""Docstring text for people: reStructuredText and LaTeX markup as plain Unicode.

The layer palette and editor completions show each layer's summary line; raw
``:math:`\\sigma_w^2``` or double backquotes there read as noise.
"""

from __future__ import annotations

import re

#: reStructuredText inline markup, leftmost first: ``literal``, :role:`text`,
#: **strong**, *emphasis*, `link <url>`_ and `default role`.
_RST_INLINE = re.compile(
    r"``(?P<literal>.+?)``"
    r"|:(?:[\w-]+:)?(?P<role>[\w-]+):`(?P<content>[^`]*)`"
    r"|(?<![\w*])\*\*(?P<strong>\S(?:.*?\S)?)\*\*(?![\w*])"
    r"|(?<![\w*])\*(?P<emphasis>[^\s*](?:[^*]*?[^\s*])?)\*(?![\w*])"
    r"|`(?P<link>[^`]+?)`(?:__?)?"
)
_LINK_TARGET = re.compile(r"\s*<[^>]*>$")


def plain_text(rst: str) -> str:
    r"""One line of reStructuredText as readable plain text.

    Literals and roles lose their markup (``` ``x`` ``` -> ``x``,
    ``:func:`~a.b``` -> ``b``); ``:math:`` is rendered with Unicode
    (``:math:`\sigma_w^2``` -> ``σ_w²``, ``\frac12`` -> ``½``).
    """

    def replace(match: re.Match[str]) -> str:
        if match["literal"] is not None:
            return match["literal"]
        if match["role"] is not None:
            if match["role"] == "math":
                return latex_text(match["content"])
            target = _LINK_TARGET.sub("", match["content"]).lstrip("!")
            return (
                target.rsplit(".", 1)[-1].lstrip("~")
                if target.startswith("~")
                else target
            )
        if match["link"] is not None:
            return _LINK_TARGET.sub("", match["link"])
        return match["strong"] if match["strong"] is not None else match["emphasis"]

    return re.sub(r"\s{2,}", " ", _RST_INLINE.sub(replace, rst)).strip()


_GREEK = (
    "alpha α beta β gamma γ delta δ epsilon ε varepsilon ε zeta ζ eta η theta θ "
    "vartheta ϑ iota ι kappa κ lambda λ mu μ nu ν xi ξ pi π rho ρ sigma σ tau τ "
    "upsilon υ phi φ varphi φ chi χ psi ψ omega ω Gamma Γ Delta Δ Theta Θ "
    "Lambda Λ Xi Ξ Pi Π Sigma Σ Phi Φ Psi Ψ Omega Ω"
).split()
_LATEX_SYMBOLS = {
    **dict(zip(_GREEK[::2], _GREEK[1::2], strict=True)),
    **dict.fromkeys(("ge", "geq"), "≥"),
    **dict.fromkeys(("le", "leq"), "≤"),
    **dict.fromkeys(("ne", "neq"), "≠"),
    **dict.fromkeys(("ldots", "dots", "cdots"), "…"),
    "approx": "≈",
    "sim": "∼",
    "equiv": "≡",
    "in": "∈",
    "to": "→",
    "infty": "∞",
    "cdot": "·",
    "times": "×",
    "pm": "±",
    "sum": "Σ",
    "prod": "∏",
    "int": "∫",
    "partial": "∂",
    "top": "ᵀ",
    "{": "{",
    "}": "}",
    "%": "%",
    "_": "_",
    # Spacing: a space (thin spaces read as products: a\,b), or nothing.
    **dict.fromkeys((",", ";", ":", " ", "quad", "qquad"), " "),
    "!": "",
    # Sizing that only decorates brackets.
    **dict.fromkeys(
        ("left", "right", "big", "Big", "bigg", "Bigg", "displaystyle"), ""
    ),
}
_LATEX_ACCENTS = {"tilde": "\u0303", "bar": "\u0304", "hat": "\u0302", "vec": "\u20d7"}
_BLACKBOARD = {"R": "ℝ", "E": "𝔼", "N": "ℕ", "Z": "ℤ", "C": "ℂ", "P": "ℙ"}
_VULGAR = {"1/2": "½", "1/3": "⅓", "2/3": "⅔", "1/4": "¼", "3/4": "¾"}
_SUPERSCRIPT = dict(
    zip(
        "0123456789+-=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVW",
        "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ",
        strict=True,
    )
)
_SUBSCRIPT = dict(
    zip(
        "0123456789+-=()aehijklmnoprstuvx",
        "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ",
        strict=True,
    )
)
_LATEX_TOKEN = re.compile(r"\\([A-Za-z]+|.)|(.)", re.DOTALL)


def latex_text(math: str) -> str:
    r"""Inline LaTeX as readable Unicode: ``\phi(x) = a\,e^{b x}`` -> ``φ(x) = a e^(b x)``.

    Commands become symbols (``\sigma`` -> ``σ``, ``\ge`` -> ``≥``) or their
    name (``\max`` -> ``max``, ``\mathrm{erf}`` -> ``erf``); ``^``/``_`` become
    Unicode super/subscripts where every character has one (``x^2`` -> ``x²``),
    else stay, bracketed when longer than a character (``e^(b x)``).
    """
    tokens = [(m[1], m[2]) for m in _LATEX_TOKEN.finditer(math)]
    text, _ = _latex_group(tokens, 0, closing=False)
    return re.sub(r" {2,}", " ", text).strip()


def _latex_group(
    tokens: list[tuple[str | None, str | None]], i: int, closing: bool
) -> tuple[str, int]:
    """Render tokens from ``i`` up to a closing brace (when ``closing``)."""
    out = []
    while i < len(tokens):
        command, char = tokens[i]
        if char == "}" and closing:
            return "".join(out), i + 1
        piece, i = _latex_atom(tokens, i)
        if piece.startswith(("^", "_")) and len(piece) > 1:
            piece = _script(piece[0], piece[1:])
        out.append(piece)
    return "".join(out), i


def _latex_argument(
    tokens: list[tuple[str | None, str | None]], i: int
) -> tuple[str, int]:
    """The next argument: a ``{group}`` or one token (spaces before it skipped)."""
    while i < len(tokens) and tokens[i][1] == " ":
        i += 1
    if i >= len(tokens):
        return "", i
    return _latex_atom(tokens, i, bare=True)


def _latex_atom(
    tokens: list[tuple[str | None, str | None]], i: int, bare: bool = False
) -> tuple[str, int]:
    command, char = tokens[i]
    i += 1
    if char == "{":
        return _latex_group(tokens, i, closing=True)
    if char in ("^", "_") and not bare:
        argument, i = _latex_argument(tokens, i)
        return char + argument, i
    if char is not None:
        return ("" if char == "}" else char), i
    if command in ("frac", "tfrac", "dfrac"):
        numerator, i = _latex_argument(tokens, i)
        denominator, i = _latex_argument(tokens, i)
        ratio = f"{_grouped(numerator)}/{_grouped(denominator)}"
        return _VULGAR.get(ratio, ratio), i
    if command == "sqrt":
        argument, i = _latex_argument(tokens, i)
        return "√" + _grouped(argument), i
    if command in _LATEX_ACCENTS:
        argument, i = _latex_argument(tokens, i)
        return argument + _LATEX_ACCENTS[command], i
    if command == "mathbb":
        argument, i = _latex_argument(tokens, i)
        return _BLACKBOARD.get(argument, argument), i
    if command in (
        "mathrm",
        "text",
        "operatorname",
        "mathbf",
        "mathit",
        "mathsf",
        "mathcal",
        "boldsymbol",
    ):
        return _latex_argument(tokens, i)
    if command in _LATEX_SYMBOLS:
        return _LATEX_SYMBOLS[command], i
    # An operator name (\cos, \max, \arccos): its name, apart from a following word.
    after = tokens[i] if i < len(tokens) else (None, None)
    apart = bool(after[0] and after[0].isalpha()) or bool(
        after[1] and after[1].isalnum()
    )
    return (command or "") + (" " if apart else ""), i


def _grouped(text: str) -> str:
    """``text`` as one operand: bracketed unless a single word or number."""
    return text if re.fullmatch(r"\w+|[^\s\w]", text) else f"({text})"


def _script(kind: str, text: str) -> str:
    table = _SUPERSCRIPT if kind == "^" else _SUBSCRIPT
    if all(c in table for c in text):
        return "".join(table[c] for c in text)
    return kind + _grouped(text)
