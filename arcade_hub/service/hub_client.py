"""The few hub REST API calls the service makes with its own token."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from arcade_hub.launch.spec import LaunchSpec

USER_MAX_AGE = 2.0
"""Seconds a user's model is reused for reading (who is asking, what is listed): a client
polling the sessions API or the job list costs the hub one request per user this often, not
one per request. Decisions (the totals of the group policy at a create) and an id not found
ask the hub again; the service's own starts and stops forget the user's model."""


class HubClient:
    def __init__(self, api_url: str, token: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        self._users: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def server(self, user: str, server: str) -> dict[str, Any] | None:
        """The server model including its state, or None if user or server does not exist."""
        r = await self._client.get(f"/users/{quote(user, safe='')}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        servers: dict[str, Any] = r.json().get("servers", {})
        return servers.get(server)

    async def user(self, user: str, fresh: bool = False) -> dict[str, Any] | None:
        """The user's model with groups, admin flag and active servers (with state), at most
        USER_MAX_AGE seconds old unless `fresh`; None if there is no such user."""
        now = time.monotonic()
        kept = self._users.get(user)
        if kept is not None and not fresh and now - kept[0] < USER_MAX_AGE:
            return kept[1]
        r = await self._client.get(f"/users/{quote(user, safe='')}")
        model: dict[str, Any] | None = None
        if r.status_code != 404:
            r.raise_for_status()
            model = r.json()
        self._users = {k: v for k, v in self._users.items() if now - v[0] < USER_MAX_AGE}
        self._users[user] = (now, model)
        return model

    async def unstarted_server(self, user: str) -> str | None:
        """A named server of `user` that the hub keeps but that is not running, pending or
        ever started (the hub records one for each launch form opened and not submitted),
        or None."""
        r = await self._client.get(f"/users/{quote(user, safe='')}",
                                   params={"include_stopped_servers": "1"})  # fmt: skip
        if r.status_code == 404:
            return None
        r.raise_for_status()
        servers: dict[str, Any] = r.json().get("servers", {})
        idle = [name for name, s in servers.items()
                if name and s.get("stopped") and not s.get("pending") and not s.get("started")
                and not s.get("last_activity")]  # fmt: skip
        return min(idle, default=None)

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
        self._users.pop(user, None)
        r = await self._client.post(
            f"/users/{quote(user, safe='')}/servers/{quote(server, safe='')}", json=options
        )
        self._users.pop(user, None)
        return r.status_code, _message(r)

    async def delete_server(self, user: str, server: str) -> tuple[int, str]:
        """Stop and remove a named server; stop the unnamed one (`server` empty)."""
        self._users.pop(user, None)
        path = f"/users/{quote(user, safe='')}/server"
        if server:
            path += f"s/{quote(server, safe='')}"
        r = await self._client.request("DELETE", path, json={"remove": True} if server else None)
        self._users.pop(user, None)
        return r.status_code, _message(r)

    async def login_token(
        self, user: str, password: str, scopes: list[str], expires_in: int, note: str
    ) -> str | None:
        """A new token of `user` made by the hub from their username and password (the hub's
        authenticator checks them; the request carries no token of the service's): None when
        the hub refuses."""
        body = {"auth": {"username": user, "password": password}, "scopes": scopes,
                "expires_in": expires_in, "note": note}  # fmt: skip
        request = self._client.build_request(
            "POST", f"/users/{quote(user, safe='')}/tokens", json=body
        )
        del request.headers["Authorization"]
        r = await self._client.send(request)
        if r.status_code != 201:
            return None
        token: str = r.json()["token"]
        return token

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
