"""Where the front end registers the widget models and views.

``src/index.ts`` registers them under the npm package's name and version (both
read from ``package.json``); every Python widget names that module and a semver
range that the registered version satisfies, or JupyterLab cannot find the view.
"""

from __future__ import annotations

import re
from typing import Final

from .. import __version__

#: npm package name of the front end, the module the views are registered under.
MODULE_NAME: Final = "nkwidgets"

# PEP 440 release, pre-release and dev parts, as hatch-nodejs-version writes
# them from the npm version in package.json (e.g. 0.2.0-alpha.1 -> 0.2.0a1).
_PEP440 = re.compile(r"^(?P<release>\d+\.\d+\.\d+)(?P<pre_or_dev>[^+]+)?(?:\+.*)?$")


def npm_range(python_version: str) -> str:
    """The semver range of front-end versions a Python version works with.

    A caret range on the release keeps minor (0.x: patch) front-end updates
    compatible. Pre-releases get a ``-0`` suffix because semver ranges only
    admit pre-release versions of a release they name that way.

    Examples:
        >>> npm_range("0.1.0")
        '^0.1.0'
        >>> npm_range("0.2.0a1")
        '^0.2.0-0'
    """
    match = _PEP440.match(python_version)
    if match is None:
        msg = f"`python_version`={python_version!r} is not an X.Y.Z[...] version."
        raise ValueError(msg)
    suffix = "-0" if match["pre_or_dev"] else ""
    return f"^{match['release']}{suffix}"


#: Range that ``_model_module_version``/``_view_module_version`` declare.
MODULE_VERSION: Final = npm_range(__version__)
