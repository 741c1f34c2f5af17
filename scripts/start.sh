#!/usr/bin/env bash
# Set up (idempotent) and start the embedded platform. Arguments go to `arcade-hub run`,
# e.g. scripts/start.sh --port 8000 --config my-platform.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${ARCADE_VENV:-.venv}/bin/arcade-hub" run "$@"
