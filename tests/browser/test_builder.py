"""ArchitectureBuilder and PredictionView in a real JupyterLab, driven by Chromium.

Builds a network with the builder (a palette layer added with a click), runs
it (the heatmap fills), moves the prediction view's time slider (the marker
and the per-class panel follow), cancels a longer job, and reloads the page
(the widgets come back from the kernel's widget models). Screenshots land in
``test-artifacts/builder_*.png``.
"""

from __future__ import annotations

import json

import pytest

from .conftest import ARTIFACTS, CHROMIUM, put_notebook
from .test_lab import (
    ALL_BLOCKS_DONE,
    CHANGE_THEME,
    KERNEL_IDLE,
    KERNEL_ROUND_TRIP,
    PANEL,
)

pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs {CHROMIUM}"),
]

NOTEBOOK = "builder_demo.ipynb"
SPEC = """net = serial(Dense(64, W_std=1.5, b_std=0.05), Relu(), Dense(10))
data = digits(train=60, test=30)
compute = nngp, ntk
predict = gradient_descent_mse(t=[1, 10, 100, 1000, inf])
block_size = 20
"""
LONG_SPEC = SPEC.replace("train=60", "train=1000").replace(
    "block_size = 20", "block_size = 10"
)
CELL = f"from nkwidgets.widgets import ArchitectureBuilder\nbuilder = ArchitectureBuilder({SPEC!r})\nbuilder"
TIMEOUT_MS = 120_000

DIAGRAM_TEXT = f"""() => {PANEL}.querySelector('svg[aria-label="network diagram"]')?.textContent ?? ''"""

#: The `d` of every bqplot line in the prediction view's first figure (loss vs t).
LOSS_FIGURE_PATHS = f"""() => {{
  const figs = [...{PANEL}.querySelectorAll('.bqplot.figure')];
  const fig = figs.find(f => f.textContent.includes('Mean squared error vs training time'));
  return fig ? [...fig.querySelectorAll('path.line')].map(p => p.getAttribute('d')) : null;
}}"""

DIAGRAM_TEXT_COLOUR = f"""() => getComputedStyle(
  {PANEL}.querySelector('svg[aria-label="network diagram"] text')).fill"""

PROBE_TITLE = f"""() => {{
  const titles = [...{PANEL}.querySelectorAll('.bqplot.figure .mainheading')];
  return titles.map(t => t.textContent).find(t => t.startsWith('Test point #')) ?? '';
}}"""


@pytest.mark.timeout(400)
def test_build_run_slide_cancel_reload(lab_url: str, browser) -> None:
    put_notebook(lab_url, NOTEBOOK, [CELL])
    page = browser.new_page(
        viewport={"width": 1500, "height": 1100}, device_scale_factor=2
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.goto(f"{lab_url}/lab/tree/{NOTEBOOK}?reset")
        page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget")
        page.wait_for_function(KERNEL_IDLE)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )
        page.wait_for_function(f"() => ({DIAGRAM_TEXT})().includes('Dense(10)')")

        # Build: add Erf from the palette; the diagram and the text follow.
        page.locator(".widget-dropdown select").first.select_option("Erf")
        page.get_by_role("button", name="Add layer").click()
        page.wait_for_function(f"() => ({DIAGRAM_TEXT})().includes('Erf()')")
        text = page.locator(".widget-textarea textarea").first.input_value()
        assert "    Erf(),\n)" in text, text
        page.screenshot(path=str(ARTIFACTS / "builder_built.png"), full_page=True)

        # Run: the heatmap fills, then the prediction view draws.
        page.get_by_role("button", name="Compute").click()
        page.wait_for_function(ALL_BLOCKS_DONE)
        page.wait_for_function(f"() => ({LOSS_FIGURE_PATHS})()?.length >= 4")
        page.wait_for_function(f"() => ({PROBE_TITLE})().includes('at t = ')")

        # Slide: keyboard on the slider handle moves the marker and the panel.
        before_paths, before_title = (
            page.evaluate(LOSS_FIGURE_PATHS),
            page.evaluate(PROBE_TITLE),
        )
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(8):
            handle.press("ArrowRight")
        page.wait_for_function(
            f"() => ({PROBE_TITLE})() !== {json.dumps(before_title)}"
        )
        after_paths = page.evaluate(LOSS_FIGURE_PATHS)
        moved = [a for a, b in zip(after_paths, before_paths, strict=True) if a != b]
        assert len(moved) == 1, "exactly the time marker moves"
        page.screenshot(path=str(ARTIFACTS / "builder_predictions.png"), full_page=True)

        # Cancel a longer job.
        area = page.locator(".widget-textarea textarea").first
        area.fill(LONG_SPEC)
        area.press("Tab")  # the text applies when it loses focus
        page.wait_for_function(
            f"() => [...{PANEL}.querySelectorAll('.widget-textarea textarea')]"
            ".some(t => t.value.includes('train=1000'))"
        )
        page.get_by_role("button", name="Compute").click()
        page.get_by_role("button", name="Cancel").click()
        page.wait_for_function(
            f"() => {PANEL}.textContent.includes('cancelled; finished blocks are kept')"
        )
        page.wait_for_function(KERNEL_IDLE)

        # Reload: the widgets are rebuilt from the kernel's models.
        page.evaluate(KERNEL_ROUND_TRIP)
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.reload()
        page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget")
        page.wait_for_function(f"() => ({DIAGRAM_TEXT})().includes('Dense(10)')")
        page.wait_for_function(
            f"() => {PANEL}.textContent.includes('cancelled; finished blocks are kept')"
        )
        assert (
            "train=1000"
            in page.locator(".widget-textarea textarea").first.input_value()
        )
        page.screenshot(path=str(ARTIFACTS / "builder_reloaded.png"), full_page=True)

        # Dark theme: the diagram's text follows JupyterLab's font colour.
        light_text = page.evaluate(DIAGRAM_TEXT_COLOUR)
        page.evaluate(CHANGE_THEME, "JupyterLab Dark")
        page.wait_for_function(
            f"() => ({DIAGRAM_TEXT_COLOUR})() !== {json.dumps(light_text)}"
        )
        page.screenshot(path=str(ARTIFACTS / "builder_dark.png"), full_page=True)
        page.evaluate(CHANGE_THEME, "JupyterLab Light")
        assert not errors, errors
    finally:
        page.screenshot(path=str(ARTIFACTS / "builder_final.png"), full_page=True)
        page.close()
