"""Palette and completion help: docstring summaries as plain text, not RST/LaTeX."""

from __future__ import annotations

import pytest

from nkwidgets._spec._help_text import latex_text, plain_text
from nkwidgets.spec import catalog


@pytest.mark.parametrize(
    "rst,text",
    [
        # Forms that occur in the first lines of nkwidgets.stax docstrings.
        (
            r"Absolute value: :func:`ABRelu` with a=-1",
            "Absolute value: ABRelu with a=-1",
        ),
        ("as Neural Tangents' ``Aggregate``.", "as Neural Tangents' Aggregate."),
        ("``(N, *S, C) -> (N, C)``", "(N, *S, C) -> (N, C)"),
        ("``alpha * x`` otherwise", "alpha * x otherwise"),
        ("with *keep* probability ``rate``", "with keep probability rate"),
        (
            r":math:`\phi(x) = a \min(x, 0) + b \max(x, 0)`",
            "φ(x) = a min(x, 0) + b max(x, 0)",
        ),
        (
            r":math:`\phi(x) = a \cos(b x + c)`: :func:`Sin` with phase :math:`c + \pi/2`.",
            "φ(x) = a cos(b x + c): Sin with phase c + π/2.",
        ),
        (r":math:`\phi(x) = a\,\mathrm{erf}(b x) + c`", "φ(x) = a erf(b x) + c"),
        (r":math:`\phi(x) = a\,e^{b x^2}`", "φ(x) = a e^(b x²)"),
        (r":math:`\phi(x) = x\,\Phi(x)`", "φ(x) = x Φ(x)"),
        (r":math:`He_n(x)/\sqrt{n!}`", "Heₙ(x)/√(n!)"),
        (r":math:`\phi(x) = x^n`", "φ(x) = xⁿ"),
        (
            r":math:`\phi(x) = \sum_i a_i x^i`, ``coef = [a_0, a_1, ...]``",
            "φ(x) = Σᵢ aᵢ xⁱ, coef = [a_0, a_1, ...]",
        ),
        (r":math:`\phi(x) = [x \ge 0]\, x^n`", "φ(x) = [x ≥ 0] xⁿ"),
        (
            r":math:`\phi(x) = \frac12 \mathrm{erf}(x / s) + \frac12`",
            "φ(x) = ½ erf(x / s) + ½",
        ),
        # Elsewhere in the docs, and what the brief names.
        (r":math:`\sigma_w^2`", "σ_w²"),
        (r":math:`\theta = \arccos\rho`", "θ = arccos ρ"),
        (r":math:`d_k \to \infty`", "dₖ → ∞"),
        (r":func:`~nkwidgets.monte_carlo_kernel_fn`", "monte_carlo_kernel_fn"),
        (r":class:`MaskRule`", "MaskRule"),
        (
            "`Neural Tangents <https://github.com/google/neural-tangents>`_",
            "Neural Tangents",
        ),
        ("plain text stays", "plain text stays"),
    ],
)
def test_plain_text(rst, text):
    assert plain_text(rst) == text


def test_latex_fractions_and_scripts():
    assert latex_text(r"\frac{x}{s}") == "x/s"
    assert latex_text(r"\frac{a + b}{2}") == "(a + b)/2"
    assert latex_text(r"e^{-r^2/2}") == "e^(-r²/2)"
    assert latex_text(r"\mathbb{E}[\phi(u)]") == "𝔼[φ(u)]"


def test_catalog_docs_have_no_markup():
    for layer in catalog()["layers"]:
        doc = layer["doc"]
        assert doc, layer["name"]
        assert not any(m in doc for m in ("\\", "`", ":math:", ":func:")), (
            layer["name"],
            doc,
        )
    conv_local = next(x for x in catalog()["layers"] if x["name"] == "ConvLocal")
    # The whole first paragraph, not its first line cut mid-sentence.
    assert conv_local["doc"].endswith("arguments as Conv.")
