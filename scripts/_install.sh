# Sourced by scripts/lab.sh and scripts/test.sh: a virtualenv in .venv with nkwidgets
# installed in development mode and its JupyterLab extension built and linked.
# $1: pip extras to install besides the package ("" or "[test]").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON_BIN=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON_BIN" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The editable install runs `jlpm install`, builds the TypeScript extension and
# registers it with the venv's JupyterLab (hatch shared-data).
.venv/bin/python -m pip install --quiet -e ".$1"
.venv/bin/jupyter labextension list 2>&1 | grep -q "nkwidgets.*enabled.*OK" || {
  echo "nkwidgets' JupyterLab extension is not enabled; see 'jupyter labextension list'." >&2
  exit 1
}
