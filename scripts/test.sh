#!/usr/bin/env bash
# Install everything the tests need into .venv, then run them all: TypeScript unit
# tests, Python unit tests, the tutorial notebooks (nbval) and the browser tests
# (JupyterLab driven in the system Chromium).
set -euo pipefail
source "$(dirname "$0")/_install.sh" "[test]"

if [ ! -x /usr/bin/chromium ]; then
  # Browser tests use Debian's Chromium; Playwright never downloads a browser here.
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== TypeScript unit tests"
.venv/bin/jlpm test --silent

echo "== Python, notebook and browser tests"
mkdir -p test-artifacts
.venv/bin/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
  -p no:cacheprovider --durations=15 "$@"
