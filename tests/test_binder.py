"""Binder's files install nkwidgets with its JupyterLab extension into a fresh virtualenv.

repo2docker itself does not run here; this does what it would do with
``binder/requirements.txt`` and ``binder/postBuild`` (pip install the
requirements, then run postBuild from the repository root) in a new virtualenv,
and asks that environment's JupyterLab whether the extension is enabled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name] = version
    return pins


def test_binder_pins_are_the_versions_tested_here():
    # CI runs the suite in .venv; Binder must get those same versions.
    mismatched = {
        name: (version, metadata.version(name))
        for name, version in _pins().items()
        if metadata.version(name) != version
    }
    assert not mismatched, (
        f"binder/requirements.txt differs from the tested versions: {mismatched}"
    )


def test_binder_pins_every_runtime_dependency():
    requires = metadata.requires("nkwidgets") or []
    runtime = {
        re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower()
        for r in requires
        if "extra ==" not in r
    }
    pinned = {name.lower() for name in _pins()}
    # jaxlib comes with jax; both are pinned.
    assert runtime - pinned == set(), (
        f"unpinned in binder/requirements.txt: {runtime - pinned}"
    )


@pytest.mark.timeout(900)
def test_binder_files_install_the_extension_into_a_fresh_virtualenv(tmp_path):
    env_dir = tmp_path / "binder-env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(env_dir),
    }
    env.pop("PYTHONPATH", None)

    def run(*cmd: str, cwd: Path = REPO) -> str:
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (
            f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done.stdout + done.stderr

    run(
        str(bin_dir / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "-r",
        str(BINDER / "requirements.txt"),
    )
    # repo2docker runs postBuild from the repository root with the env's python first on PATH.
    run("bash", str(BINDER / "postBuild"))
    listing = run(str(bin_dir / "jupyter"), "labextension", "list")
    listing = re.sub(r"\x1b\[[0-9;]*m", "", listing)  # it colours "enabled" and "OK"
    assert re.search(r"nkwidgets\s+v\S+\s+enabled\s+OK", listing), listing
    assert sys.prefix != str(env_dir)
