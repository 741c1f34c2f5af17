"""Shared test doubles and constants for the registry tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from .oci import Image

BASIC_USER, BASIC_PASSWORD = "alice", "correct horse battery staple"
TOKEN_USER, TOKEN_PASSWORD = "bob", "tr0ub4dor&3"


class FakeClock:
    """An injectable monotonic clock that only moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport and records ``(method, path)`` of every request."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def count(self, fragment: str = "") -> int:
        return sum(fragment in f"{method} {path}" for method, path in self.requests)


@dataclass
class Published:
    """What the session pushed to the anonymous registry."""

    simple: Image
    simple_digest: str
    amd64: Image
    arm64: Image
    index_digest: str
    docker_list_digest: str
    docker_amd64: Image
    tags: list[str] = field(default_factory=list)


SIMPLE: dict[str, Any] = {
    "labels": {"org.arcade.kind": "notebook", "org.arcade.version": "1.2.3"},
    "user": "1000:100",
    "entrypoint": ["tini", "--"],
    "cmd": ["jupyterhub-singleuser"],
    "env": {"PATH": "/opt/conda/bin:/usr/bin", "LANG": "C.UTF-8"},
    "exposed_ports": ["8888/tcp"],
    "working_dir": "/home/jovyan",
}
