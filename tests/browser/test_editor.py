"""The ``%%nk`` editor support in a real JupyterLab, driven by Chromium.

Checks the second plugin of the labextension (src/editor/): layer names,
settings, argument names and numbers of a ``%%nk`` cell get their own token
classes; Tab offers layer names and a layer's argument names; running a cell
whose spec has a syntax error on its line 3 puts a lint marker on editor line 4
(the ``%%nk`` line comes first) and renders the diagnostic output. Screenshots
land in ``test-artifacts/editor_*.png``.
"""

from __future__ import annotations

import pytest

from .conftest import ARTIFACTS, CHROMIUM, put_notebook
from .test_lab import (
    KERNEL_IDLE,
    PANEL,
)

pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs {CHROMIUM}"),
]

NOTEBOOK = "nk_editor_demo.ipynb"
#: Spec line 3 (`compute = nngp,, ntk`) is a syntax error: editor line 4.
BAD_CELL = (
    "%%nk\n"
    "net = serial(Dense(64, W_std=1.5), Relu(), Dense(10))\n"
    "data = digits(train=20, test=10)\n"
    "compute = nngp,, ntk"
)
LAYER_COMPLETION_CELL = "%%nk\nnet = serial(Dense(64), Re"
ARGUMENT_COMPLETION_CELL = "%%nk\nnet = serial(Dense(64, b"
CELLS = [
    "%load_ext nkwidgets",
    BAD_CELL,
    LAYER_COMPLETION_CELL,
    ARGUMENT_COMPLETION_CELL,
]
TIMEOUT_MS = 60_000


def _cell(index: int) -> str:
    return f"{PANEL}.querySelectorAll('.jp-CodeCell')[{index}]"


#: Text of each `%%nk` token span of a cell's editor, by class.
TOKENS = """(index) => {
  const cell = %s;
  const out = {};
  for (const span of cell.querySelectorAll('.cm-content span[class*="cm-nk-"]')) {
    const kind = [...span.classList].find(c => c.startsWith('cm-nk-'));
    (out[kind] = out[kind] || []).push(span.textContent);
  }
  return out;
}"""

#: Where the lint range and gutter marker of a cell are: editor line numbers.
LINT_PLACE = """() => {
  const cell = %s;
  const lines = [...cell.querySelectorAll('.cm-content .cm-line')];
  const range = cell.querySelector('.cm-lintRange-error');
  const marker = cell.querySelector('.cm-lint-marker-error');
  if (!range || !marker) return null;
  const rangeLine = lines.indexOf(range.closest('.cm-line')) + 1;
  const top = marker.getBoundingClientRect().top;
  const markerLine = 1 + lines.findIndex(l => {
    const r = l.getBoundingClientRect();
    return top >= r.top - 2 && top < r.bottom - 2;
  });
  return { rangeLine, markerLine, text: range.textContent };
}"""


def _complete_at_end(page, index: int) -> list[str]:
    editor = page.locator(".jp-CodeCell").nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Tab")
    page.wait_for_selector(
        ".jp-Completer .jp-Completer-item", state="visible", timeout=TIMEOUT_MS
    )
    labels = page.eval_on_selector_all(
        ".jp-Completer .jp-Completer-item",
        "items => items.map(i => (i.querySelector('.jp-Completer-match') || i).textContent.trim())",
    )
    return labels


@pytest.mark.timeout(300)
def test_nk_cells_highlight_complete_and_mark_errors(lab_url: str, browser) -> None:  # noqa: F811 - fixtures
    put_notebook(lab_url, NOTEBOOK, CELLS)
    page = browser.new_page(
        viewport={"width": 1200, "height": 900}, device_scale_factor=2
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    console: list[str] = []
    page.on(
        "console",
        lambda m: (
            console.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.set_default_timeout(TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.goto(f"{lab_url}/lab/tree/{NOTEBOOK}?reset")
        page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget")
        page.wait_for_function(KERNEL_IDLE)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        activated = page.evaluate(
            "() => window.jupyterapp.isPluginActivated('nkwidgets:nk-language')"
        )
        assert activated, console
        page.wait_for_function(f"() => {_cell(1)}?.querySelector('.cm-nk-layer')")

        # Highlighting: token classes on the spec's words.
        tokens = page.evaluate(TOKENS % _cell(1), 1)
        assert tokens["cm-nk-magic"] == ["%%nk"]
        assert tokens["cm-nk-setting"] == ["net", "data", "compute"]
        assert tokens["cm-nk-layer"] == ["serial", "Dense", "Relu", "Dense"]
        assert tokens["cm-nk-argument"] == ["W_std", "train", "test"]
        assert tokens["cm-nk-number"] == ["64", "1.5", "10", "20", "10"]
        assert tokens["cm-nk-keyword"] == ["digits", "nngp", "ntk"]
        # A plain Python cell gets none of them.
        assert page.evaluate(TOKENS % _cell(0), 0) == {}
        page.locator(".jp-CodeCell").nth(1).screenshot(
            path=str(ARTIFACTS / "editor_highlight.png")
        )

        # Completion (Tab): layer names inside serial(...), then Dense's arguments.
        layers = _complete_at_end(page, 2)
        assert {"Relu", "RectifiedMonomial", "repeat"} <= set(layers), layers
        page.screenshot(path=str(ARTIFACTS / "editor_completion_layers.png"))
        page.keyboard.press("Escape")
        arguments = _complete_at_end(page, 3)
        assert {"b_std", "batch_axis"} <= set(arguments), arguments
        page.screenshot(path=str(ARTIFACTS / "editor_completion.png"))
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")  # leave edit mode

        # Diagnostics: run the load_ext cell and the bad cell.
        page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )
        page.wait_for_function(f"() => {_cell(1)}.querySelector('.nk-diagnostic')")
        page.wait_for_function(
            f"() => {_cell(1)}.querySelector('.cm-lint-marker-error')"
        )
        place = page.evaluate(LINT_PLACE % _cell(1))
        assert place == {"rangeLine": 4, "markerLine": 4, "text": ","}, place
        rendered = (
            page.locator(".jp-CodeCell").nth(1).locator(".nk-diagnostic").inner_text()
        )
        assert (
            "line 4 of the cell, column 16" in rendered
            and "compute = nngp,, ntk" in rendered
        )
        error_text = (
            page.locator(".jp-CodeCell")
            .nth(1)
            .locator(".jp-OutputArea-output")
            .last.inner_text()
        )
        assert "SpecError" in error_text and "line 3, column 16" in error_text
        page.locator(".jp-CodeCell").nth(1).screenshot(
            path=str(ARTIFACTS / "editor_diagnostic.png")
        )

        # Editing the cell clears the marker (it described the old text).
        page.locator(".jp-CodeCell").nth(1).locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.type(" ")
        page.wait_for_function(
            f"() => !{_cell(1)}.querySelector('.cm-lintRange-error, .cm-lint-marker-error')"
        )
        assert not errors, errors
    finally:
        page.screenshot(path=str(ARTIFACTS / "editor_page.png"), full_page=True)
        page.close()
