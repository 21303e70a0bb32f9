"""The Neural Tangents 0.6.5 reference, kept in its own virtualenv.

nkwidgets must never import ``neural_tangents``: NT 0.6.5 needs JAX 0.4.x and
NumPy 1.x, which cannot share a process with the project's JAX 0.10 / NumPy 2.
So NT lives in a separate venv and is only ever reached through a subprocess;
this module builds that venv and runs code in it. It uses the standard library
and NumPy only, so the project venv can import it.

Usage from the project side::

    from bench.nt_reference import ensure_nt_venv, run_nt
    res = run_nt("emit_json({'v': nt.__version__})", preamble="import neural_tangents as nt")
    res.json  # {'v': '0.6.5'}

From a shell: ``python bench/nt_reference.py`` builds the venv if needed and
prints its path and versions.

Recipe and measurements (this machine: 2 cores, Python 3.11.7, Linux x86_64):

* ``jax==0.4.23`` / ``jaxlib==0.4.23`` have cp311 manylinux wheels, so no version
  substitution was needed here. Their wheels exist for CPython 3.9-3.12 only, so
  ``_pick_base_python`` looks for such an interpreter on PATH when the caller's
  is newer, rather than letting pip fail with a resolver error.
* ``neural-tangents`` is installed with ``--no-deps`` plus ``frozendict``: its
  declared ``tensorflow`` / ``tf2jax`` requirements serve only
  ``neural_tangents.experimental``, whose import we comment out anyway.
  Honouring them costs 2.6 GB and ~70 s; without them the venv is ~620 MB and
  builds in 28 s with no pip cache (~20 s with a warm one).
* ``ml_dtypes`` resolves to 0.5.x, which jax 0.4.23 accepts (``import
  neural_tangents`` and float64 kernels checked).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

NT_VERSION = "0.6.5"
# Pinned to the last releases NT 0.6.5 was tested against; newer jax dropped
# APIs NT uses, and numpy 2 / scipy 1.13 / sklearn 1.6 break jax 0.4.23 or NT.
BASE_REQUIREMENTS = (
    "jax==0.4.23",
    "jaxlib==0.4.23",
    "numpy<2",
    "scipy<1.13",
    "scikit-learn<1.6",
    "frozendict>=2.3.8",
)
NT_REQUIREMENT = f"neural-tangents=={NT_VERSION}"
ENV_VAR = "NKW_NT_VENV"
DEFAULT_VENV = Path("~/.cache/nkwidgets/nt-0.6.5-venv")
# Written last, so a venv whose build was interrupted is detected and rebuilt.
MARKER = "nkw-nt-ready.json"
_EXPERIMENTAL_IMPORT = re.compile(r"^from \. import experimental\s*$", re.MULTILINE)


def default_venv_path() -> Path:
    """``$NKW_NT_VENV`` if set, else ``~/.cache/nkwidgets/nt-0.6.5-venv``."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_VENV).expanduser()


def nt_python(path: str | os.PathLike[str] | None = None) -> Path:
    """The interpreter of the reference venv (which may not exist yet)."""
    root = Path(path).expanduser() if path is not None else default_venv_path()
    return root / "bin" / "python"


def _pick_base_python() -> str:
    """An interpreter jaxlib 0.4.23 has wheels for (CPython 3.9-3.12)."""
    if (3, 9) <= sys.version_info[:2] <= (3, 12):
        return sys.executable
    for name in ("python3.12", "python3.11", "python3.10", "python3.9"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "jaxlib 0.4.23 has wheels for CPython 3.9-3.12 only and none of "
        "python3.9..python3.12 is on PATH; install one or point NKW_NT_VENV "
        "at an existing reference venv."
    )


def _read_marker(root: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if info.get("neural_tangents") != NT_VERSION or not nt_python(root).exists():
        return None
    return info


def _patch_nt_init(python: Path) -> Path:
    """Comment out ``from . import experimental``; a no-op when already done."""
    # find_spec locates the package without executing its __init__, which
    # would fail on the very import being removed.
    origin = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            "import importlib.util as u; print(u.find_spec('neural_tangents').origin)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    init = Path(origin)
    text = init.read_text()
    patched = _EXPERIMENTAL_IMPORT.sub(
        "# from . import experimental  # disabled by nkwidgets: imports TensorFlow",
        text,
    )
    if patched != text:
        init.write_text(patched)
    return init


@contextlib.contextmanager
def _lock(root: Path):
    """Serialise builds: several test or bench runs may call this at once."""
    import fcntl

    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / (root.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_nt_venv(
    path: str | os.PathLike[str] | None = None, *, verbose: bool = False
) -> Path:
    """Return the reference venv's root, building it first if it is missing.

    Idempotent: a venv with a valid marker is returned untouched; a partial one
    (no marker) is deleted and rebuilt. The NT ``__init__`` patch is re-applied
    on every build, never on an already-marked venv.
    """
    root = Path(path).expanduser() if path is not None else default_venv_path()
    if _read_marker(root):
        return root
    with _lock(root):
        if _read_marker(root):  # another process finished while we waited
            return root
        if root.exists():
            shutil.rmtree(root)
        started = time.perf_counter()
        quiet = [] if verbose else ["-q"]
        subprocess.run([_pick_base_python(), "-m", "venv", str(root)], check=True)
        python = nt_python(root)
        pip = [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            *quiet,
        ]
        subprocess.run([*pip, *BASE_REQUIREMENTS], check=True)
        subprocess.run([*pip, "--no-deps", NT_REQUIREMENT], check=True)
        init = _patch_nt_init(python)
        versions = json.loads(
            subprocess.run(
                [str(python), "-I", "-c", _VERSIONS_SNIPPET],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        if versions["neural_tangents"] != NT_VERSION:
            raise RuntimeError(f"expected NT {NT_VERSION}, venv has {versions}")
        versions["patched_init"] = str(init)
        versions["build_seconds"] = round(time.perf_counter() - started, 1)
        (root / MARKER).write_text(json.dumps(versions, indent=2) + "\n")
    return root


_VERSIONS_SNIPPET = """
import json, platform, jax, jaxlib, numpy, scipy, sklearn, neural_tangents
print(json.dumps({
    "neural_tangents": neural_tangents.__version__,
    "jax": jax.__version__,
    "jaxlib": jaxlib.__version__,
    "numpy": numpy.__version__,
    "scipy": scipy.__version__,
    "sklearn": sklearn.__version__,
    "python": platform.python_version(),
}))
"""


def nt_versions(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Versions recorded when the venv was built (builds it if missing)."""
    info = _read_marker(ensure_nt_venv(path))
    assert info is not None
    return info


@dataclasses.dataclass
class NTResult:
    """What a snippet run in the NT venv handed back."""

    json: Any
    """The object passed to ``emit_json`` (None if never called)."""
    arrays: dict[str, Any]
    """Arrays passed to ``emit_arrays`` (empty if never called)."""
    stdout: str
    stderr: str
    seconds: float
    """Wall time of the whole subprocess, interpreter start-up included."""


# Injected before every snippet. `-I` (isolated mode) keeps the project tree,
# PYTHONPATH and user site-packages out of the NT process, so a stray
# `import nkwidgets` or project numpy 2 can never leak in.
_PREAMBLE = """
import json as _json, sys as _sys
import numpy as _np
_IO = _sys.argv[1]
with _np.load(_IO + "/inputs.npz", allow_pickle=False) as _f:
    INPUTS = {k: _f[k] for k in _f.files}
def emit_json(obj):
    with open(_IO + "/result.json", "w") as f:
        _json.dump(obj, f)
def emit_arrays(**arrays):
    _np.savez(_IO + "/result.npz", **{k: _np.asarray(v) for k, v in arrays.items()})
"""


def run_nt(
    code: str,
    *,
    inputs: dict[str, Any] | None = None,
    preamble: str = "",
    path: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = 1800,
) -> NTResult:
    """Run ``code`` in the reference venv and collect what it emits.

    The snippet sees ``INPUTS`` (the ``inputs`` arrays, loaded from an npz) and
    may call ``emit_json(obj)`` and ``emit_arrays(**arrays)``; those come back
    as ``NTResult.json`` / ``.arrays``. A non-zero exit raises
    ``subprocess.CalledProcessError`` carrying the snippet's stderr.
    """
    import numpy as np

    python = nt_python(ensure_nt_venv(path))
    with tempfile.TemporaryDirectory(prefix="nkw-nt-") as io_dir:
        io = Path(io_dir)
        np.savez(
            io / "inputs.npz", **{k: np.asarray(v) for k, v in (inputs or {}).items()}
        )
        script = io / "snippet.py"
        script.write_text(
            _PREAMBLE + textwrap.dedent(preamble) + "\n" + textwrap.dedent(code)
        )
        full_env = dict(os.environ, **(env or {}))
        started = time.perf_counter()
        proc = subprocess.run(
            [str(python), "-I", str(script), str(io)],
            check=False,  # raised below, with the snippet's stderr attached
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
        )
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(
                proc.returncode, proc.args, output=proc.stdout, stderr=proc.stderr
            )
        result_json = None
        if (io / "result.json").exists():
            result_json = json.loads((io / "result.json").read_text())
        arrays: dict[str, Any] = {}
        if (io / "result.npz").exists():
            with np.load(io / "result.npz", allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
    return NTResult(result_json, arrays, proc.stdout, proc.stderr, seconds)


def run_nt_script(
    script: str | os.PathLike[str],
    *args: str,
    path: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run a whole script file with the reference venv's python (isolated mode)."""
    python = nt_python(ensure_nt_venv(path))
    return subprocess.run(
        [str(python), "-I", str(script), *args],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=timeout,
    )


def main() -> None:
    root = default_venv_path()
    fresh = _read_marker(root) is None
    started = time.perf_counter()
    ensure_nt_venv(root, verbose=False)
    info = nt_versions(root)
    took = time.perf_counter() - started
    print(f"NT reference venv: {root}")
    print(f"python: {nt_python(root)}")
    print(json.dumps(info, indent=2))
    if fresh:
        print(f"built in {took:.1f} s")


if __name__ == "__main__":
    main()
