"""The arcade service's tornado application."""

from __future__ import annotations

import asyncio
import logging

from jupyterhub.services.auth import HubAuth
from jupyterhub.utils import url_path_join
from tornado import web

from arcade_hub.service.apps import AppsHandler
from arcade_hub.service.hub_client import HubClient
from arcade_hub.service.settings import ServiceSettings

SESSION = r"/api/v1/users/([^/]+)/sessions/([^/]*)"


def make_app(settings: ServiceSettings) -> web.Application:
    def route(pattern: str) -> str:
        return url_path_join(settings.prefix, pattern)

    return web.Application(
        [(route(SESSION + "/apps"), AppsHandler)],
        arcade=settings,
        hub_auth=HubAuth(api_token=settings.api_token, api_url=settings.hub_api_url),
        hub_client=HubClient(settings.hub_api_url, settings.api_token),
    )


async def serve(settings: ServiceSettings) -> None:
    app = make_app(settings)
    app.listen(settings.port, address="127.0.0.1")
    logging.getLogger("arcade_hub.service").info(
        "arcade service listening on 127.0.0.1:%d%s", settings.port, settings.prefix
    )
    await asyncio.Event().wait()
