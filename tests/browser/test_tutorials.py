"""One tutorial per widget kind, run in a real JupyterLab: each widget renders.

The heatmap tutorials (01, 03) have their own pixel checks in ``test_lab.py``
and the builder and prediction view theirs in ``test_builder.py``; here the
other widgets are found in their tutorials' outputs after all cells ran, with
no page errors. Full-page screenshots land in ``test-artifacts/tutorial_*.png``.
"""

from __future__ import annotations

import pytest

from .conftest import ARTIFACTS, CHROMIUM
from .test_lab import (
    KERNEL_IDLE,
    PANEL,
)

pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs {CHROMIUM}"),
]

#: Tutorial -> (widget, a text its rendered view must contain).
WIDGET_TUTORIALS = {
    "02_nngp_vs_ntk.ipynb": ("bqplot figures", "NNGP"),
    "04_finite_vs_infinite.ipynb": ("EmpiricalVsInfinite", "width"),
    "07_infinite_attention.ipynb": ("bqplot figures", "accuracy"),
    "08_kernel_embeddings.ipynb": ("bqplot figures", "feature"),
    "06_learning_rate_phases.ipynb": ("PhasePlot", "λ0"),
    "09_dataset_distillation_kip.ipynb": ("KipView", "support"),
    "10_parameterization_and_spectra.ipynb": ("SpectrumPlot", "eigenvalue"),
}
RUN_TIMEOUT_MS = 400_000


@pytest.mark.timeout(600)
@pytest.mark.parametrize("notebook", sorted(WIDGET_TUTORIALS))
def test_tutorial_widget_renders(lab_url: str, browser, notebook: str) -> None:
    widget, text = WIDGET_TUTORIALS[notebook]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(RUN_TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    stem = notebook.removesuffix(".ipynb")
    try:
        page.goto(f"{lab_url}/lab/tree/notebooks/{notebook}?reset")
        page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget")
        page.wait_for_function(KERNEL_IDLE)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )
        # Every cell ran: the last code cell has an execution count.
        page.wait_for_function(
            f"""() => {{
              const prompts = [...{PANEL}.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
              return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }}"""
        )
        page.wait_for_function(KERNEL_IDLE)
        errored = page.evaluate(
            f'() => {PANEL}.querySelectorAll(\'.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] .ansi-red-fg, .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]\').length'
        )
        assert errored == 0, f"{notebook}: a cell raised"
        svg_marks = page.evaluate(
            f"() => {PANEL}.querySelectorAll('.bqplot svg path, .bqplot svg rect').length"
        )
        assert svg_marks > 0, f"{widget}: no bqplot marks drawn"
        assert text in page.evaluate(f"() => {PANEL}.textContent"), (
            f"{widget}: {text!r} not shown"
        )
        assert not errors, errors
        # Each widget itself, as a figure: the notebook panel scrolls, so a page
        # screenshot would show only whatever is in view at the end.
        outputs = page.locator(".jp-OutputArea-output:visible:has(.bqplot)")
        for i in range(outputs.count()):
            output = outputs.nth(i)
            output.scroll_into_view_if_needed()
            suffix = "" if i == 0 else f"_{i + 1}"
            output.screenshot(
                path=str(ARTIFACTS / f"tutorial_{stem}_widget{suffix}.png")
            )
    finally:
        page.screenshot(path=str(ARTIFACTS / f"tutorial_{stem}.png"), full_page=True)
        page.close()
