#!/usr/bin/env bash
# Install nkwidgets (Python package + JupyterLab extension) into .venv and open
# JupyterLab on the quickstart tutorial.
set -euo pipefail
source "$(dirname "$0")/_install.sh" ""
exec .venv/bin/jupyter lab notebooks/01_quickstart.ipynb "$@"
