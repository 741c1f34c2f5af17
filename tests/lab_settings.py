"""What JupyterLab in a session decides about news and update checks, as it reads its
configuration: run `SNIPPET` with a session's Python and environment (embedded) or in an
image (Kubernetes), and compare its output with `EXPECTED`."""

from __future__ import annotations

SNIPPET = """
import json
from jupyter_server.services.config.manager import ConfigManager
from jupyterlab.labapp import LabApp
app = LabApp()
app.load_config_file()
overrides = ConfigManager(config_dir_name="labconfig").get("default_setting_overrides")
print(json.dumps({"notification": overrides.get("@jupyterlab/apputils-extension:notification"),
                  "news_url": app.news_url, "updates": app.check_for_updates_class.__name__}))
"""
EXPECTED = {
    # the settings JupyterLab's announcements plugin reads: no prompt, no fetch, no check
    "notification": {"fetchNews": "false", "checkForUpdates": False},
    # the server side: nothing to fetch from, even where a user turns news on
    "news_url": None,
    "updates": "NeverCheckForUpdate",
}
