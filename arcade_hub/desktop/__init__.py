"""Desktop sessions: Xvnc + openbox behind jupyter-server-proxy at ``<server>/desktop/``.

Enable as a Jupyter server extension (``arcade_hub.desktop``), next to
jupyter-server-proxy and jupyter-remote-desktop-proxy.
"""

from __future__ import annotations

from typing import Any

from .proxy import install_proxy_config


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "arcade_hub.desktop"}]


def _link_jupyter_server_extension(serverapp: Any) -> None:
    # Extensions are all linked before any is loaded, so jupyter-server-proxy sees this
    # config when it loads, whatever the extension names sort as.
    if install_proxy_config(serverapp.config):
        serverapp.log.info("arcade_hub.desktop: /desktop-websockify/ runs the Arcade desktop")
    else:
        serverapp.log.warning("arcade_hub.desktop: ServerProxy.servers already has a desktop")


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Nothing to add at load time; the proxy handlers come from jupyter-server-proxy."""
