"""jupyter-server-proxy registration of the desktop under ``desktop-websockify``.

jupyter-remote-desktop-proxy serves the noVNC page at ``<base>/desktop/``; that page opens its
websocket at ``<base>/desktop-websockify/``. We register our own process under that name through
``ServerProxy.servers`` config, whose handlers take precedence over the entry-point ones.
"""

from __future__ import annotations

import sys
from typing import Any

from traitlets.config import Config

PROXY_NAME = "desktop-websockify"


def server_process_spec() -> dict[str, Any]:
    """The ``ServerProxy.servers`` entry that starts :mod:`arcade_hub.desktop.session`."""
    return {
        "command": [
            sys.executable, "-m", "arcade_hub.desktop.session", "--rfb-socket", "{unix_socket}",
        ],
        "timeout": 30,
        "unix_socket": True,
        "raw_socket_proxy": True,
        "new_browser_window": True,
        # jupyter-remote-desktop-proxy's own entry already shows a "Desktop" launcher tile
        # pointing at /desktop/; a second one would be a duplicate.
        "launcher_entry": {"enabled": False, "title": "Desktop", "path_info": "desktop"},
    }  # fmt: skip


def install_proxy_config(config: Config) -> bool:
    """Add our ``desktop-websockify`` server unless config already defines one."""
    section = config.ServerProxy
    servers = dict(section["servers"]) if "servers" in section else {}
    if PROXY_NAME in servers:
        return False
    servers[PROXY_NAME] = server_process_spec()
    section["servers"] = servers
    return True
