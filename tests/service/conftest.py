from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.hub import RunningHub, wait_for

FINAL = ("Succeeded", "Failed", "Error")
BATCH_IMAGE = "ghcr.io/arcade-hub/headless:0.1.0"
NOTEBOOK_IMAGE = "ghcr.io/arcade-hub/notebook:0.1.0"


class Api:
    """The sessions API as one user sees it, with plain HTTP."""

    def __init__(self, hub: RunningHub, user: str) -> None:
        self.hub = hub
        self.user = user
        self.token = hub.user_token(user)
        self.base = f"{hub.url}/services/arcade/skaha/v1"

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return httpx.request(method, f"{self.base}/{path}", headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def create(self, **params: object) -> str:
        r = self.request("POST", "session", params=params)
        assert r.status_code == 200, r.text
        return r.text.strip()

    def session(self, sid: str) -> dict:
        r = self.request("GET", f"session/{sid}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, sid: str, statuses: tuple[str, ...], timeout: float = 60) -> dict:
        return wait_for(
            lambda: s if (s := self.session(sid))["status"] in statuses else None,
            timeout,
            f"session {sid} to be {'/'.join(statuses)}",
        )

    def wait_gone(self, sid: str, timeout: float = 30) -> None:
        wait_for(
            lambda: self.request("GET", f"session/{sid}").status_code == 404,
            timeout,
            f"session {sid} to be gone",
        )


@pytest.fixture(scope="module")
def alice(hub: RunningHub) -> Iterator[Api]:
    yield Api(hub, "alice")


@pytest.fixture(scope="module")
def bob(hub: RunningHub) -> Iterator[Api]:
    yield Api(hub, "bob")
