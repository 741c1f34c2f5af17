"""The storage service's tornado application and its life: `python -m arcade_hub.storage`,
started by the hub as a managed service of its own (`vospace`), apart from the arcade service
so that long transfers never share an event loop or a process with the sessions API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading

from tornado import httpserver, web

from arcade_hub.storage.files import FilesHandler
from arcade_hub.storage.handlers import (
    AvailabilityHandler,
    CapabilitiesHandler,
    NodesHandler,
    RegistryHandler,
    StorageHandler,
    StorageRoot,
)
from arcade_hub.storage.state import Storage, StorageSettings
from arcade_hub.storage.transfers import (
    DeleteJobHandler,
    ErrorHandler,
    MoveHandler,
    PhaseHandler,
    PropsJobHandler,
    SyncHandler,
    TransferDetailsHandler,
)

JOB = r"([A-Za-z0-9_-]{1,64})"
REGISTRY = "/reg/resource-caps"
"""At the platform's root (the hub's proxy routes `/reg/` here): where `vos` looks up
resource IDs when `VOSPACE_WEBSERVICE` names the platform's host."""
REAP_INTERVAL = 30.0
STOP_GRACE = 10.0
BODY_CEILING = 1 << 62
"""The connection's own limit; each handler sets the request's (`StorageHandler.prepare`)."""
log = logging.getLogger("arcade_hub.storage")


def make_app(storage: Storage) -> web.Application:
    prefix = storage.settings.prefix.rstrip("/")

    def route(pattern: str) -> str:
        return f"{prefix}/{pattern}"

    return web.Application(
        [
            (REGISTRY, RegistryHandler),
            (route("reg/resource-caps"), RegistryHandler),
            (route(""), StorageRoot),
            (route("capabilities"), CapabilitiesHandler),
            (route("availability"), AvailabilityHandler),
            (route("nodes(?:/.*)?"), NodesHandler),
            (route("files(?:/.*)?"), FilesHandler),
            (route("synctrans"), SyncHandler),
            (route(f"xfer/{JOB}"), TransferDetailsHandler),
            (route(f"transfers/{JOB}/results/transferDetails"), TransferDetailsHandler),
            (route("transfers"), MoveHandler),
            (route(f"transfers/{JOB}"), MoveHandler),
            (route(f"transfers/{JOB}/phase"), PhaseHandler),
            (route(f"transfers/{JOB}/error"), ErrorHandler),
            (route("async-delete"), DeleteJobHandler),
            (route(f"async-delete/{JOB}"), DeleteJobHandler),
            (route(f"async-delete/{JOB}/phase"), PhaseHandler),
            (route("async-setprops"), PropsJobHandler),
            (route(f"async-setprops/{JOB}"), PropsJobHandler),
            (route(f"async-setprops/{JOB}/phase"), PhaseHandler),
        ],
        storage=storage,
        log_function=_log_request,
    )


def _log_request(handler: web.RequestHandler) -> None:
    """Method, path without the query, status, client, time; a quiet handler's answers below
    400 (the root, which the hub checks every minute) at debug level."""
    status = handler.get_status()
    write = log.info if status < 400 else log.warning if status < 500 else log.error
    if isinstance(handler, StorageHandler) and handler.quiet and status < 400:
        write = log.debug
    request = handler.request
    write(
        "%d %s %s (%s) %.2fms",
        status,
        request.method,
        request.path,
        request.remote_ip,
        1000.0 * request.request_time(),
    )


async def serve(settings: StorageSettings) -> None:
    """Serve until SIGTERM or SIGINT; then stop the workers and exit (within STOP_GRACE s)."""
    storage = Storage(settings)
    app = make_app(storage)
    server = httpserver.HTTPServer(
        app, xheaders=True, max_body_size=BODY_CEILING, chunk_size=1 << 20
    )
    server.listen(settings.port, address=settings.bind)
    log.info("storage service listening on %s:%d%s", settings.bind, settings.port, settings.prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reaper = asyncio.ensure_future(_reap(storage))
    await stop.wait()
    deadline = threading.Timer(STOP_GRACE, lambda: os._exit(1))
    deadline.daemon = True
    deadline.start()
    server.stop()
    reaper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reaper
    await server.close_all_connections()
    await storage.close()


async def _reap(storage: Storage) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL)
        await asyncio.to_thread(storage.pool.reap)
