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

mkdir -p test-artifacts
NBVAL=(--nbval-lax --nbval-current-env -p no:cacheprovider)
if [ "$#" -gt 0 ]; then
  echo "== Python, notebook and browser tests, as selected"
  .venv/bin/python -m pytest tests notebooks "${NBVAL[@]}" --durations=15 "$@"
  exit
fi

# Everything but the browser tests on up to 4 workers (pytest-xdist), a file
# per worker at a time so a notebook's cells share one kernel; then the browser
# tests, which drive one JupyterLab and one Chromium, alone.
CPUS=$(nproc)
WORKERS=${NK_TEST_WORKERS:-$(( CPUS < 4 ? CPUS : 4 ))}
echo "== Python and notebook tests ($WORKERS workers)"
.venv/bin/python -m pytest tests notebooks "${NBVAL[@]}" -m "not browser" \
  -n "$WORKERS" --dist loadfile --durations=15
echo "== Browser tests"
.venv/bin/python -m pytest tests -m browser -p no:cacheprovider --durations=10
