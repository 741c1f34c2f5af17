#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. Extra arguments go to pytest,
# e.g. scripts/test.sh tests/unit -x
# As root on Debian with ../shared/kube-cluster beside the checkout, a real single-node
# Kubernetes is built, started and stopped again around the tests (scripts/test-cluster.sh;
# ARCADE_TEST_CLUSTER=0 leaves it out and the real-cluster tests skip).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
VENV=${ARCADE_VENV:-.venv}
export ARCADE_Z2JH_DIR=${ARCADE_Z2JH_DIR:-$(cd .. && pwd)/shared/z2jh}
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"
"$VENV/bin/lint-imports"  # the layers of pyproject.toml's [tool.importlinter]

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
. scripts/test-cluster.sh
trap cluster_down EXIT
cluster_up
# pytest exits 5 when it collects nothing: that is a failure here too.
status=0
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@" || status=$?
cluster_down
exit $status
