"""Desktop sessions: Xvnc + openbox behind jupyter-server-proxy at ``<server>/desktop/``.

Enable as a Jupyter server extension (``arcade_hub.desktop``), next to
jupyter-server-proxy and jupyter-remote-desktop-proxy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
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
    """The proxy handlers come from jupyter-server-proxy; here only the session's `_xsrf`
    cookie is made `Secure` when the hub's cookies are (see `secure_xsrf_cookie`)."""
    secure_xsrf_cookie(serverapp.web_app.settings, os.environ)


def secure_xsrf_cookie(settings: dict[str, Any], env: Mapping[str, str]) -> bool:
    """Mark the session's `_xsrf` cookie `Secure` when the hub serves over https.

    JupyterHub gives sessions its cookie options (`JUPYTERHUB_COOKIE_OPTIONS`), and the
    session's login cookies follow them, but the XSRF cookie jupyterhub-singleuser sets
    reads only the server's `xsrf_cookie_kwargs`. Loaded in every Arcade session."""
    try:
        options = json.loads(env.get("JUPYTERHUB_COOKIE_OPTIONS") or "{}")
    except ValueError:
        return False
    if not (isinstance(options, dict) and options.get("secure")):
        return False
    settings.setdefault("xsrf_cookie_kwargs", {})["secure"] = True
    return True
