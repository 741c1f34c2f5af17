"""A relay on this machine's loopback, in a thread of the test: what the real-cluster tests put
between a client and a part that listens elsewhere (a hub on the pod network, a
`kubectl port-forward`)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def loopback_relay(port: int, host: str, to: int, why: str,
                   context: ssl.SSLContext | None = None) -> Iterator[None]:
    """Connections to 127.0.0.1:`port` passed on as bytes to `host`:`to` (with `context`,
    the relay's own side speaks TLS); `why` the test needs that port, said if it is taken."""
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):  # TLS errors too
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            target_r, target_w = await asyncio.open_connection(host, to)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, target_w), pipe(target_r, client_w))

    loop = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(
            asyncio.start_server(serve, "127.0.0.1", port, ssl=context))
    except OSError as e:
        loop.close()
        pytest.fail(f"{why}, but 127.0.0.1:{port} is taken here: {e}", pytrace=False)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        async def close() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
