#!/usr/bin/env bash
# Refresh the docs' screenshots (docs/images/*.png): the browser tests that take them, run
# with ARCADE_SCREENSHOTS pointing at docs/images. Run after changing a page; commit the
# images with the change. Needs the test set-up (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export ARCADE_SCREENSHOTS="$PWD/docs/images"
exec "${ARCADE_VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider \
    tests/e2e/test_pages_in_browser.py tests/e2e/test_desktop_in_hub.py \
    tests/e2e/test_lab_in_hub.py "$@"
