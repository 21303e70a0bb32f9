"""End-to-end: notebooks run in a real JupyterLab, driven by Chromium.

Checks that the installed labextension (``src/``, via ``pip install``) draws
the widgets: the kernel heatmap canvas gets painted and bqplot figures render.
A full-page screenshot of each notebook lands in ``test-artifacts/``.

Needs the extension installed in the environment (``jupyter labextension
list`` shows nkwidgets) and Debian's ``/usr/bin/chromium``; Playwright's own
browser downloads are never used.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ARTIFACTS, CHROMIUM

playwright_sync = pytest.importorskip("playwright.sync_api")

#: Notebooks to run, relative to the repository root (conftest serves their folders).
NOTEBOOKS = [
    "tests/browser/heatmap_demo.ipynb",
    "notebooks/01_quickstart.ipynb",
    "notebooks/03_convolutional.ipynb",
]

#: Kernel start, all cells and every block of the demo; generous for slow CI.
RUN_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs {CHROMIUM}"),
]


#: JavaScript for the open notebook's DOM node: other tabs restored from a
#: workspace must not satisfy the checks.
PANEL = "window.jupyterapp.shell.currentWidget.node"

#: True once every kernel heatmap in the notebook has all its blocks.
ALL_BLOCKS_DONE = f"""() => {{
  const texts = [...{PANEL}.querySelectorAll('.nk-kernel-heatmap-progress')]
    .map(el => el.textContent.match(/^(\\d+) \\/ (\\d+) blocks$/));
  return texts.length > 0 && texts.every(m => m && m[1] === m[2]);
}}"""

#: Painted pixels of each heatmap canvas: colour-mapped cells, told apart from
#: the grey background, NaN and border colours by their chroma (every viridis
#: colour has max - min channel > 80; JupyterLab's greys have ~0).
PAINTED_PIXELS = f"""() => [...{PANEL}.querySelectorAll('canvas.nk-kernel-heatmap')]
  .map(canvas => {{
    const {{ data }} = canvas.getContext('2d')
      .getImageData(0, 0, canvas.width, canvas.height);
    let painted = 0;
    for (let i = 0; i < data.length; i += 4) {{
      const hi = Math.max(data[i], data[i + 1], data[i + 2]);
      const lo = Math.min(data[i], data[i + 1], data[i + 2]);
      if (data[i + 3] > 0 && hi - lo > 40) painted++;
    }}
    return {{ painted, total: canvas.width * canvas.height }};
  }})"""

#: True once the open notebook's kernel is connected and idle.
KERNEL_IDLE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel?.sessionContext?.session?.kernel;
  return !!kernel && kernel.connectionStatus === 'connected'
    && kernel.status === 'idle';
}"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_draws_widgets(lab_url: str, browser, notebook: str) -> None:
    page = browser.new_page(
        viewport={"width": 1400, "height": 1000},
        # 2x pixels: the screenshot is meant to be usable as a figure.
        device_scale_factor=2,
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(RUN_TIMEOUT_MS)
    stem = Path(notebook).stem
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        # `reset`: open just this notebook, not the tabs of an earlier test.
        page.goto(f"{lab_url}/lab/tree/{notebook}?reset")
        page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget")
        page.wait_for_function(KERNEL_IDLE)
        # A clean figure: no file browser, just the notebook.
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )

        page.wait_for_function(
            f"() => {PANEL}.querySelector('canvas.nk-kernel-heatmap')"
        )
        page.wait_for_function(ALL_BLOCKS_DONE)
        page.wait_for_function(f"() => {PANEL}.querySelector('.bqplot svg')")
        page.wait_for_function(KERNEL_IDLE)
        # Let the last block's animation frame paint before reading pixels.
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        heatmap_output = page.locator(
            ".jp-OutputArea-output:visible:has(.nk-kernel-heatmap)"
        ).first
        heatmap_output.scroll_into_view_if_needed()
        heatmap_output.screenshot(path=str(ARTIFACTS / f"{stem}-output.png"))

        counts = page.evaluate(PAINTED_PIXELS)
        assert counts, "no kernel heatmap canvas"
        for count in counts:
            # The matrix fills most of the canvas; the class strip and border
            # take the rest.
            assert count["painted"] > 0.5 * count["total"], count
        bqplot_marks = page.evaluate(
            f"() => {PANEL}.querySelectorAll('.bqplot svg path').length"
        )
        assert bqplot_marks > 0, "bqplot figure drew nothing"
        assert not errors, errors
    finally:
        # Also on failure, so a failing check can be looked at.
        page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
        page.close()


#: A digest of the first kernel heatmap canvas's pixels, to tell redraws apart.
HEATMAP_DIGEST = f"""() => {{
  const canvas = {PANEL}.querySelector('canvas.nk-kernel-heatmap');
  const {{ data }} = canvas.getContext('2d')
    .getImageData(0, 0, canvas.width, canvas.height);
  let hash = 0;
  for (let i = 0; i < data.length; i += 4) {{
    hash = (hash * 31 + data[i] + 7 * data[i + 1] + 13 * data[i + 2]) >>> 0;
  }}
  return `${{canvas.width}}x${{canvas.height}}:${{hash}}`;
}}"""


#: Append a code cell to the open notebook and run it.
ADD_AND_RUN_CELL = """async code => {
  const app = window.jupyterapp;
  const notebook = app.shell.currentWidget.content;
  notebook.activeCellIndex = notebook.widgets.length - 1;
  await app.commands.execute('notebook:insert-cell-below');
  notebook.activeCell.model.sharedModel.setSource(code);
  await app.commands.execute('notebook:run-cell');
}"""

EMPTY_AND_ERROR_CELL = """\
waiting = KernelHeatmap(8, title="no blocks yet")
failed = KernelHeatmap(8, title="a failed run", blocks_total=4)
failed.error = "BlockError: train_train[0:4, 0:4] has NaN entries. Fix: use float64."
HBox([waiting, failed])"""

#: Resolves once the kernel has handled every message sent before it: the
#: shell channel is ordered, so the view's state changes (comm messages) are in
#: the kernel's widget models when an empty execute request is answered. A
#: page reload drops what the websocket has not sent yet.
KERNEL_ROUND_TRIP = """() => window.jupyterapp.shell.currentWidget
  .sessionContext.session.kernel.requestExecute({ code: '', silent: true }).done"""

CHANGE_THEME = """theme =>
  window.jupyterapp.commands.execute('apputils:change-theme', { theme })"""


def _next_frame(page) -> None:
    """Wait until the view has drawn what the last action asked for."""
    page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )


@pytest.mark.timeout(300)
def test_heatmap_hover_toggle_and_zoom(lab_url: str, browser) -> None:
    """The demo heatmap's tooltip, kernel and colour toggles and zoom, with
    screenshots ``test-artifacts/heatmap_*.png`` of each state."""
    page = browser.new_page(
        viewport={"width": 1400, "height": 1000}, device_scale_factor=2
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(RUN_TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.goto(f"{lab_url}/lab/tree/tests/browser/heatmap_demo.ipynb?reset")
        page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget")
        page.wait_for_function(KERNEL_IDLE)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )
        page.wait_for_function(
            f"() => {PANEL}.querySelector('canvas.nk-kernel-heatmap')"
        )
        page.wait_for_function(ALL_BLOCKS_DONE)
        page.wait_for_function(KERNEL_IDLE)
        _next_frame(page)
        widget = page.locator(".nk-kernel-heatmap-root:visible").first
        widget.scroll_into_view_if_needed()
        canvas = widget.locator("canvas.nk-kernel-heatmap")
        pressed = widget.locator("button[aria-pressed='true']")
        assert pressed.all_text_contents() == ["NNGP", "values"]
        widget.screenshot(path=str(ARTIFACTS / "heatmap_nngp.png"))

        # Hover: the bottom-right corner of the canvas is always matrix.
        box = canvas.bounding_box()
        assert box is not None
        canvas.hover(position={"x": box["width"] - 20, "y": box["height"] - 20})
        tooltip = widget.locator(".nk-kernel-heatmap-tooltip")
        tooltip.wait_for(state="visible")
        text = tooltip.inner_text()
        assert "row i = " in text and "NNGP = " in text, text
        # Rows are sorted by class, so the last rows shown are class 2.
        assert "class of i: right, class of j: right" in text, text
        page.locator(
            ".jp-OutputArea-output:visible:has(.nk-kernel-heatmap)"
        ).first.screenshot(path=str(ARTIFACTS / "heatmap_hover.png"))
        page.mouse.move(0, 0)
        tooltip.wait_for(state="hidden")

        # Kernel toggle: each choice redraws, and the choice is model state.
        digests = {"nngp": page.evaluate(HEATMAP_DIGEST)}
        for label, name in (("NTK", "ntk"), ("NTK \u2212 NNGP", "difference")):
            widget.get_by_role("button", name=label, exact=True).click()
            page.wait_for_function(
                f"() => {PANEL}.querySelector("
                "\".nk-kernel-heatmap-segment[aria-pressed='true']\")"
                f".dataset.value === '{name}'"
            )
            _next_frame(page)
            digests[name] = page.evaluate(HEATMAP_DIGEST)
            widget.screenshot(path=str(ARTIFACTS / f"heatmap_{name}.png"))
        assert len(set(digests.values())) == 3, digests

        widget.get_by_role("button", name="NTK", exact=True).click()
        widget.get_by_role("button", name="correlation", exact=True).click()
        _next_frame(page)
        assert page.evaluate(HEATMAP_DIGEST) != digests["ntk"]
        widget.screenshot(path=str(ARTIFACTS / "heatmap_correlation.png"))

        # Zoom: a click zooms to the class block under it; Escape resets.
        reset = widget.get_by_role("button", name="reset zoom")
        assert not reset.is_visible()
        before = page.evaluate(HEATMAP_DIGEST)
        canvas.click(position={"x": box["width"] - 20, "y": box["height"] - 20})
        reset.wait_for(state="visible")
        _next_frame(page)
        assert page.evaluate(HEATMAP_DIGEST) != before
        widget.screenshot(path=str(ARTIFACTS / "heatmap_zoom.png"))
        canvas.press("Escape")
        reset.wait_for(state="hidden")

        # A dragged rectangle zooms to it; the reset button zooms out.
        x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 60, y0 + 40, steps=5)
        page.mouse.up()
        reset.wait_for(state="visible")
        _next_frame(page)
        widget.screenshot(path=str(ARTIFACTS / "heatmap_drag_zoom.png"))
        reset.click()
        reset.wait_for(state="hidden")
        _next_frame(page)
        assert page.evaluate(HEATMAP_DIGEST) == before

        # Reload: view state and the whole matrix live in the widget model, so
        # a new page draws the same picture from the kernel's widget state.
        widget.get_by_role("button", name="NTK \u2212 NNGP", exact=True).click()
        canvas.click(position={"x": box["width"] - 20, "y": box["height"] - 20})
        reset.wait_for(state="visible")
        _next_frame(page)
        shown = page.evaluate(HEATMAP_DIGEST)
        page.evaluate(KERNEL_ROUND_TRIP)
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.reload()
        page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget")
        page.wait_for_function(KERNEL_IDLE)
        page.wait_for_function(
            f"() => {PANEL}.querySelector('canvas.nk-kernel-heatmap')"
        )
        # The same picture, pixel for pixel; under heavy load the canvas can
        # come back at another size (scrollbars), so then the state that
        # decides the picture is compared instead.
        try:
            page.wait_for_function(
                f"expected => ({HEATMAP_DIGEST})() === expected",
                arg=shown,
                timeout=30_000,
            )
        except playwright_sync.TimeoutError:
            restored = page.evaluate(HEATMAP_DIGEST)
            assert restored.split(":")[0] != shown.split(":")[0], (restored, shown)
            widget.get_by_role("button", name="reset zoom").wait_for(state="visible")
        assert widget.locator("button[aria-pressed='true']").all_text_contents() == [
            "NTK \u2212 NNGP",
            "correlation",
        ]
        widget.screenshot(path=str(ARTIFACTS / "heatmap_reloaded.png"))
        widget.get_by_role("button", name="reset zoom").click()
        widget.get_by_role("button", name="NNGP", exact=True).click()
        widget.get_by_role("button", name="values", exact=True).click()

        # Empty and error states, in a cell added to the running notebook.
        page.evaluate(ADD_AND_RUN_CELL, EMPTY_AND_ERROR_CELL)
        states = page.locator(
            ".jp-OutputArea-output:visible:has(.nk-kernel-heatmap-error:not([hidden]))"
        ).first
        states.wait_for(state="visible")
        assert states.locator(".nk-kernel-heatmap-empty:visible").all_inner_texts() == [
            "waiting for blocks\u2026",
            "no blocks arrived",
        ]
        assert "has NaN entries" in states.locator("[role=alert]:visible").inner_text()
        states.screenshot(path=str(ARTIFACTS / "heatmap_empty_error.png"))

        # Dark theme: canvases repaint from the theme's CSS variables.
        _next_frame(page)
        light = page.evaluate(HEATMAP_DIGEST)
        assert light == digests["nngp"]
        page.evaluate(CHANGE_THEME, "JupyterLab Dark")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        _next_frame(page)
        # Class boundaries are drawn in the theme's background colour.
        assert page.evaluate(HEATMAP_DIGEST) != light
        widget.screenshot(path=str(ARTIFACTS / "heatmap_dark.png"))
        states.screenshot(path=str(ARTIFACTS / "heatmap_empty_error_dark.png"))
        page.evaluate(CHANGE_THEME, "JupyterLab Light")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
        assert not errors, errors
    finally:
        page.screenshot(
            path=str(ARTIFACTS / "heatmap_interactions.png"), full_page=True
        )
        page.close()
