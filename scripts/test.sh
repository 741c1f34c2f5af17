#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. Extra arguments go to pytest,
# e.g. scripts/test.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
VENV=${ARCADE_VENV:-.venv}
export ARCADE_Z2JH_DIR=${ARCADE_Z2JH_DIR:-$(cd .. && pwd)/shared/z2jh}
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"
"$VENV/bin/lint-imports"  # the layers of pyproject.toml's [tool.importlinter]
# pytest exits 5 when it collects nothing: that is a failure here too.
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@"
