"""A list+watch cache of the objects of one kind that carry a label, in one namespace.

`Informer.run()` lists the objects, then watches them from the listing's resource version for
as long as it runs: `objects` follows every change. A watch whose resource version is too old
(410) lists again; any other failure is logged and retried after a pause that doubles up to
30 s. The objects are kept as the API's JSON (dicts): listed and watched raw, not as models.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.kube.client import api_error, timed

log = logging.getLogger("arcade_hub.kube")

Obj = dict[str, Any]
Listed = Callable[[list[Obj]], Awaitable[None]]
"""Told the objects of each listing, once `objects` holds them."""
Changed = Callable[[str, Obj], Awaitable[None]]
"""Told each watched change (`ADDED`, `MODIFIED`, `DELETED`) and its object, once `objects`
follows it."""
WATCH_SECONDS = 300
LIST_TIMEOUT = 120.0


class _Expired(Exception):
    """The watch's resource version is too old (410): list again."""


def by_name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


class Informer:
    """The objects a `list_namespaced_*` call finds with a label selector, kept up to date."""

    def __init__(
        self,
        kind: str,
        list_call: Callable[..., Any],
        namespace: Callable[[], str],
        selector: str,
        key: Callable[[Obj], str] = by_name,
    ) -> None:
        self.kind = kind
        """What is listed (`pods`, `jobs`), for messages."""
        self.list_call = list_call
        self.namespace = namespace
        self.selector = selector
        self.key = key
        """The key of an object in `objects`; objects whose key is empty are left out."""
        self.objects: dict[str, Obj] = {}
        """Key to object, as last seen."""
        self.synced = asyncio.Event()
        """Set once the objects have been listed."""

    async def run(self, listed: Listed, changed: Changed) -> None:
        """List and watch until cancelled, telling `listed` and `changed`."""
        backoff = 1.0
        while True:
            try:
                version = await self._list(listed)
                backoff = 1.0
                while True:
                    version = await self._watch(version, changed)
            except asyncio.CancelledError:
                raise
            except _Expired:
                continue
            except Exception as e:  # keep watching whatever happens; say why
                log.warning("Watching %s failed (retrying in %g s): %s", self.kind, backoff,
                            api_error(e, f"watch {self.kind}")[1])
                await asyncio.sleep(backoff)  # back off before asking the API again
                backoff = min(backoff * 2, 30.0)

    async def _list(self, listed: Listed) -> str:
        async def listing() -> Obj:
            response = await self.list_call(self.namespace(), label_selector=self.selector,
                                             _preload_content=False)
            return await _json(response)

        data = await timed(listing(), LIST_TIMEOUT)
        items: list[Obj] = data.get("items") or []
        self.objects = {self.key(o): o for o in items if self.key(o)}
        self.synced.set()
        await listed(items)
        return str(data["metadata"]["resourceVersion"])

    async def _watch(self, version: str, changed: Changed) -> str:
        response = await self.list_call(
            self.namespace(), label_selector=self.selector, watch=True, resource_version=version,
            timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True, _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(sock_connect=30, sock_read=WATCH_SECONDS + 30),
        )
        try:
            if not 200 <= response.status < 300:
                await _json(response)  # raises with the API's message
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj: Obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired
                    raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                version = str(obj["metadata"]["resourceVersion"])
                if event["type"] != "BOOKMARK":
                    await self._apply(event["type"], obj, changed)
        finally:
            response.release()
        return version

    async def _apply(self, change: str, obj: Obj, changed: Changed) -> None:
        key = self.key(obj)
        if not key:
            return
        if change == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        await changed(change, obj)


async def _json(response: Any) -> Obj:
    """The body of a raw (`_preload_content=False`) response; ApiException when it failed."""
    body = await response.read()
    if not 200 <= response.status < 300:
        error = ApiException(status=response.status, reason=response.reason)
        error.body = body.decode(errors="replace")
        raise error
    data: Obj = json.loads(body)
    return data
