"""End-to-end: notebooks run in a real JupyterLab, driven by Chromium.

Checks that the installed labextension (``src/``, via ``pip install``) draws
the widgets: the kernel heatmap canvas gets painted and bqplot figures render.
A full-page screenshot of each notebook lands in ``test-artifacts/``.

Needs the extension installed in the environment (``jupyter labextension
list`` shows nkwidgets) and Debian's ``/usr/bin/chromium``; Playwright's own
browser downloads are never used.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")

#: Notebooks to run, relative to the repository root. Their whole folders are
#: copied, so data files next to a notebook come along.
NOTEBOOKS = [
    "tests/browser/heatmap_demo.ipynb",
    "notebooks/01_quickstart.ipynb",
    "notebooks/03_convolutional.ipynb",
]

#: Chromium flags for a headless container: no sandbox (we may run as root),
#: no GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: Lab settings for a quiet, reproducible page: no news or update toasts over
#: the screenshot.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {
        "checkForUpdates": False,
        "doNotDisturbMode": True,
        "fetchNews": "false",
    },
}

SERVER_START_TIMEOUT_S = 60
#: Kernel start, all cells and every block of the demo; generous for slow CI.
RUN_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a JupyterLab serving a temporary copy of the notebooks."""
    root = tmp_path_factory.mktemp("lab")
    served = root / "root"
    for folder in {Path(notebook).parent for notebook in NOTEBOOKS}:
        shutil.copytree(
            REPO / folder,
            served / folder,
            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
        )
    settings = root / "settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(LAB_SETTINGS))

    port = _free_port()
    env = {
        **os.environ,
        # Keep the user's Jupyter config and runtime files out of the test.
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--ServerApp.disable_check_xsrf=True",
            "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.root_dir={served}",
            f"--LabApp.app_settings_dir={settings}",
            f"--LabApp.user_settings_dir={root / 'user-settings'}",
            f"--LabApp.workspaces_dir={root / 'workspaces'}",
        ],
        cwd=served,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n"
                        + (root / "lab.log").read_text()[-3000:]
                    )
                time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


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
