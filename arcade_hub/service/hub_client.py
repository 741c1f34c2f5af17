"""The few hub REST API calls the service makes with its own token."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from arcade_hub.launch.spec import LaunchSpec


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

    async def user(self, user: str) -> dict[str, Any] | None:
        """The user's model with groups, admin flag and active servers (with state)."""
        r = await self._client.get(f"/users/{quote(user, safe='')}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        model: dict[str, Any] = r.json()
        return model

    async def users(self) -> list[dict[str, Any]]:
        """Every user with active servers (for platform statistics and expiry)."""
        r = await self._client.get("/users", params={"state": "active", "limit": 10000})
        r.raise_for_status()
        users: list[dict[str, Any]] = r.json()
        return users

    async def start_server(
        self, user: str, server: str, options: dict[str, Any]
    ) -> tuple[int, str]:
        """Ask the hub to start a named server; (status, the hub's message when refused)."""
        r = await self._client.post(
            f"/users/{quote(user, safe='')}/servers/{quote(server, safe='')}", json=options
        )
        return r.status_code, _message(r)

    async def delete_server(self, user: str, server: str) -> tuple[int, str]:
        """Stop and remove a named server."""
        r = await self._client.request(
            "DELETE",
            f"/users/{quote(user, safe='')}/servers/{quote(server, safe='')}",
            json={"remove": True},
        )
        return r.status_code, _message(r)

    async def aclose(self) -> None:
        await self._client.aclose()


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text
    return str(body.get("message", r.text)) if isinstance(body, dict) else r.text


def spec_of(server: dict[str, Any]) -> LaunchSpec | None:
    raw = (server.get("state") or {}).get("arcade_spec")
    return LaunchSpec.model_validate(json.loads(raw)) if raw else None
