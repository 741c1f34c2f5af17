"""The few hub REST API calls the service makes with its own token."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from arcade_hub.spec import LaunchSpec


class HubClient:
    def __init__(self, api_url: str, token: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )

    async def server(self, user: str, server: str) -> dict[str, Any] | None:
        """The server model including its state, or None if user or server does not exist."""
        r = await self._client.get(f"/users/{quote(user, safe='')}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        servers: dict[str, Any] = r.json().get("servers", {})
        return servers.get(server)

    async def aclose(self) -> None:
        await self._client.aclose()


def spec_of(server: dict[str, Any]) -> LaunchSpec | None:
    raw = (server.get("state") or {}).get("arcade_spec")
    return LaunchSpec.model_validate(json.loads(raw)) if raw else None
