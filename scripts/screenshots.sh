#!/usr/bin/env bash
# Refresh the docs' screenshots (docs/images/*.png): the browser tests that take them, run
# with ARCADE_SCREENSHOTS pointing at docs/images. Run after changing a page; commit the
# images with the change. Needs the test set-up (scripts/test.sh installs it); the CASA
# workflow's (docs/tutorial/reduce-alma-data.md) also the CASA versions, which the tests
# install once into their cache (about 2 minutes per version the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
export ARCADE_SCREENSHOTS="$PWD/docs/images"
exec "${ARCADE_VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider \
    tests/e2e/test_pages_in_browser.py tests/e2e/test_desktop_in_hub.py \
    tests/e2e/test_casa_workflow.py tests/e2e/test_lab_in_hub.py "$@"
