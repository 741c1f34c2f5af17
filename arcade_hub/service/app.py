"""The arcade service's tornado application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado import httpserver, web

from arcade_hub.backend import Backend
from arcade_hub.backends import open_backend
from arcade_hub.config import PlatformConfig
from arcade_hub.config.cache import platform_config
from arcade_hub.jobs.store import JobStore, store_path
from arcade_hub.secret_files import kept_secret
from arcade_hub.service import uws
from arcade_hub.service.apps import AppsHandler
from arcade_hub.service.handlers import log_request
from arcade_hub.service.hub_client import HubClient
from arcade_hub.service.limits import BODY_LIMIT
from arcade_hub.service.pages import (
    BatchPage,
    JobActionPage,
    JobLogPage,
    JobsPage,
    NewSessionPage,
    ServiceRoot,
)
from arcade_hub.service.parsing import CreateParser
from arcade_hub.service.sessions import Sessions
from arcade_hub.service.settings import ServiceSettings
from arcade_hub.service.skaha import (
    ContextHandler,
    ImageHandler,
    OpenApiHandler,
    SessionHandler,
    SessionListHandler,
)
from arcade_hub.service.vosi import TokenHandler, VosiHandler

SESSION = r"/api/v1/users/([^/]+)/sessions/([^/]*)"
SKAHA = "skaha/v1"
REAP_INTERVAL = 60.0
STOP_GRACE = 10.0
"""Seconds the service may take to stop after SIGTERM before it exits regardless."""
log = logging.getLogger("arcade_hub.service")


def make_app(settings: ServiceSettings, sessions: Sessions) -> web.Application:
    """The service's routes."""

    def route(pattern: str) -> str:
        return url_path_join(settings.prefix, pattern)

    hub_auth = HubOAuth.instance(api_token=settings.api_token, api_url=settings.hub_api_url)
    # The login cookie, its OAuth state cookie and the `_xsrf` cookie: `Secure` when the hub's
    # cookies are (JUPYTERHUB_COOKIE_OPTIONS), and never sent along with another site's
    # requests but top-level navigations (SameSite=Lax)
    hub_auth.cookie_options = {**hub_auth.cookie_options, "samesite": "Lax"}
    return web.Application(
        [
            (route(SESSION + "/apps"), AppsHandler),
            (route(f"{SKAHA}/session"), SessionListHandler),
            (route(f"{SKAHA}/session/([^/]+)"), SessionHandler),
            (route(f"{SKAHA}/image"), ImageHandler),
            (route(f"{SKAHA}/context"), ContextHandler),
            (route(f"{SKAHA}/openapi.json"), OpenApiHandler),
            (route(""), ServiceRoot),
            (route("new"), NewSessionPage),
            (route(r"(uws|skaha/v1)/(capabilities|availability)"), VosiHandler),
            (route("token"), TokenHandler),
            *uws.routes(route),
            (route("jobs"), JobsPage),
            (route("jobs/new"), BatchPage),
            (route(r"jobs/([^/]+)/logs"), JobLogPage),
            (route(r"jobs/([^/]+)/([a-z]+)"), JobActionPage),
            (route("oauth_callback"), HubOAuthCallbackHandler),
        ],
        # cookie-authenticated requests that change something need the token; requests with
        # an API token do not (arcade_hub.service.handlers.ServiceHandler)
        xsrf_cookies=True,
        xsrf_cookie_kwargs=dict(hub_auth.cookie_options),
        cookie_secret=_cookie_secret(settings.data_dir / "service_cookie_secret"),
        log_function=log_request,  # paths without their query: no commands or variables
        arcade=settings,
        # The one HubOAuth (a singleton, as its OAuth callback handler finds it) checks API
        # tokens and logs pages in; it keeps the OAuth state between redirect and callback.
        hub_auth=hub_auth,
        hub_client=sessions.hub,
        sessions=sessions,
        parser=CreateParser(settings.config_file),
    )


def _cookie_secret(path: Path) -> bytes:
    """Signs the job list page's login cookie; kept so a service restart keeps people in."""
    return bytes.fromhex(kept_secret(path, lambda: secrets.token_hex(32), 64))


def make_sessions(settings: ServiceSettings, backend: Backend) -> Sessions:
    """The sessions API's state, with the backend's job runner."""
    store = JobStore(store_path(settings.data_dir))
    runner = backend.job_runner(store, settings.data_dir)
    hub = HubClient(settings.hub_api_url, settings.api_token)
    return Sessions(hub, store, runner, backend, settings.data_dir)


@dataclass
class Service:
    """The running service: its backend, sessions, HTTP server and reaper."""

    settings: ServiceSettings
    backend: Backend
    sessions: Sessions
    app: web.Application
    server: httpserver.HTTPServer
    reaper: asyncio.Task[None]

    @classmethod
    async def start(cls, settings: ServiceSettings, kubeconfig: str | None = None) -> Service:
        """Open the backend the platform document names (on Kubernetes one client for the
        service's life; see `arcade_hub.kube.client.connect` for `kubeconfig`), pick up the
        jobs of the store, and listen."""

        def platform() -> PlatformConfig:
            return platform_config(settings.config_file)

        api_url = f"http://{settings.bind}:{settings.port}{settings.prefix}api/v1"
        backend = await open_backend(platform, settings.data_dir, kubeconfig, api_url)
        sessions = make_sessions(settings, backend)
        try:
            await sessions.runner.recover()
            app = make_app(settings, sessions)
            # handlers of the service refuse larger bodies with a 413 of their own; this
            # bounds the others' (the OAuth callback, unknown paths)
            server = app.listen(settings.port, address=settings.bind, xheaders=True,
                                max_body_size=BODY_LIMIT)
        except BaseException:
            await _close(sessions)
            raise
        log.info("arcade service listening on %s:%d%s (%s backend)", settings.bind,
                 settings.port, settings.prefix, backend.name)  # fmt: skip
        reaper = asyncio.ensure_future(_every(REAP_INTERVAL, sessions.reap_expired))
        return cls(settings, backend, sessions, app, server, reaper)

    async def stop(self) -> None:
        """Stop serving and watching; job instances keep running."""
        self.server.stop()
        self.reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reaper
        await self.server.close_all_connections()
        self.app.settings["parser"].close()
        await _close(self.sessions)


async def _close(sessions: Sessions) -> None:
    await sessions.runner.close()
    await sessions.hub.aclose()
    sessions.store.close()
    await sessions.images.close()
    await sessions.backend.close()


async def serve(settings: ServiceSettings) -> None:
    """Serve until SIGTERM or SIGINT, then stop. Nothing blocks the event loop for long (size
    limits, linear parsing, the store's own thread), so the signal is seen at once; should
    stopping still take longer than STOP_GRACE seconds, the process exits anyway (job
    instances run on, and the next service picks them up)."""
    service = await Service.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("arcade service stopping; running job instances keep running")
    deadline = threading.Timer(STOP_GRACE, _exit_now)
    deadline.daemon = True
    deadline.start()
    await service.stop()


def _exit_now() -> None:
    log.error("arcade service did not stop within %g s: exiting now", STOP_GRACE)
    os._exit(1)


async def _every(seconds: float, action: Callable[[], object]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            result = action()
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("periodic %s failed", getattr(action, "__name__", action))
