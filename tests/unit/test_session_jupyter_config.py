"""Embedded sessions run JupyterLab with Arcade's Jupyter configuration: no "Jupyter news"
prompt, no news fetched, no update check (tests/e2e/test_lab_in_hub.py sees it in Chromium)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from arcade_hub.local.session import JUPYTER_CONFIG
from tests.lab_settings import EXPECTED, SNIPPET


def lab_settings(env: dict[str, str]) -> object:
    done = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    return json.loads(done.stdout)


def test_the_sessions_jupyter_configuration_turns_news_and_update_checks_off() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    assert lab_settings(base) != EXPECTED  # JupyterLab's own defaults prompt and check
    assert lab_settings({**base, "JUPYTER_CONFIG_PATH": str(JUPYTER_CONFIG)}) == EXPECTED
