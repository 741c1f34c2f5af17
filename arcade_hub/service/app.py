"""The arcade service's tornado application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from jupyterhub.services.auth import HubAuth
from jupyterhub.utils import url_path_join
from tornado import web

from arcade_hub.config import PlatformConfig
from arcade_hub.jobs.runner import JobRunner
from arcade_hub.jobs.store import JobStore
from arcade_hub.service.apps import AppsHandler
from arcade_hub.service.hub_client import HubClient
from arcade_hub.service.sessions import Sessions
from arcade_hub.service.settings import ServiceSettings
from arcade_hub.service.skaha import (
    ContextHandler,
    ImageHandler,
    OpenApiHandler,
    SessionHandler,
    SessionListHandler,
)
from arcade_hub.spawners.mixin import platform_config

SESSION = r"/api/v1/users/([^/]+)/sessions/([^/]*)"
SKAHA = "skaha/v1"
REAP_INTERVAL = 60.0
log = logging.getLogger("arcade_hub.service")


def make_app(settings: ServiceSettings, sessions: Sessions) -> web.Application:
    def route(pattern: str) -> str:
        return url_path_join(settings.prefix, pattern)

    return web.Application(
        [
            (route(SESSION + "/apps"), AppsHandler),
            (route(f"{SKAHA}/session"), SessionListHandler),
            (route(f"{SKAHA}/session/([^/]+)"), SessionHandler),
            (route(f"{SKAHA}/image"), ImageHandler),
            (route(f"{SKAHA}/context"), ContextHandler),
            (route(f"{SKAHA}/openapi.json"), OpenApiHandler),
        ],
        arcade=settings,
        hub_auth=HubAuth(api_token=settings.api_token, api_url=settings.hub_api_url),
        hub_client=sessions.hub,
        sessions=sessions,
    )


def make_sessions(settings: ServiceSettings) -> Sessions:
    def platform() -> PlatformConfig:
        return platform_config(settings.config_file)

    store = JobStore(settings.data_dir / "jobs" / "jobs.sqlite")
    runner = JobRunner(store, platform, settings.data_dir)
    hub = HubClient(settings.hub_api_url, settings.api_token)
    return Sessions(hub, store, runner, platform, settings.data_dir)


async def serve(settings: ServiceSettings) -> None:
    sessions = make_sessions(settings)
    sessions.runner.recover()
    app = make_app(settings, sessions)
    server = app.listen(settings.port, address="127.0.0.1", xheaders=True)
    log.info("arcade service listening on 127.0.0.1:%d%s", settings.port, settings.prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reaper = asyncio.ensure_future(_every(REAP_INTERVAL, sessions.reap_expired))
    await stop.wait()
    log.info("arcade service stopping; running job instances keep running")
    server.stop()
    reaper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reaper
    await sessions.runner.close()
    await sessions.hub.aclose()
    sessions.store.close()


async def _every(seconds: float, action: Callable[[], object]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            result = action()
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("periodic %s failed", getattr(action, "__name__", action))
