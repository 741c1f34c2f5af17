"""`python tests/hub_run.py SETTINGS ARGS...`: `arcade-hub ARGS...` with JupyterHub settings a
test needs on top of the platform's configuration (SETTINGS: JSON, e.g.
`{"JupyterHub": {"service_check_interval": 1}}`), so that a test can await what the hub does
every minute. Product code has no switch for this; the test changes the configuration the
way an operator's `jupyterhub_config.py` would."""

from __future__ import annotations

import json
import sys
from typing import Any

from traitlets.config import Config

from arcade_hub import cli, hub_config
from arcade_hub.config import PlatformConfig


def with_settings(settings: dict[str, dict[str, Any]]) -> None:
    build = hub_config.hub_config

    def configured(platform: PlatformConfig, opts: hub_config.RunOptions) -> Config:
        c = build(platform, opts)
        c.merge(Config(settings))
        return c

    hub_config.hub_config = configured  # cli._run imports it when it runs


if __name__ == "__main__":
    with_settings(json.loads(sys.argv[1]))
    sys.exit(cli.main(sys.argv[2:]))
