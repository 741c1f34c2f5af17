"""Per-user subdomains on a real hub, in Debian Chromium: with `web.subdomain_host`, a user's
session is served at `<user>.<host>` with its own host-only cookies, the hub's login cookie
stays on the hub's host, other users are refused, and the links between the hub, the arcade
service (on `arcade--service.<host>`) and the session lead where they should.

`*.localhost` names are loopback in Chromium itself (no DNS, nothing leaves the machine);
plain HTTP clients reach the same names by sending the Host header to 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from arcade_hub.hub_config import free_port
from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.browser import login
from tests.hub import RunningHub, hub_with_document

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.e2e


@dataclass
class SubdomainHub:
    hub: RunningHub
    port: int

    @property
    def origin(self) -> str:
        return f"http://hub.localhost:{self.port}"

    @property
    def public(self) -> RunningHub:
        """The hub as browsers address it (for the login helper)."""
        return replace(self.hub, url=self.origin)

    def of(self, name: str) -> str:
        """The origin of a user's (or `<name>--service`) subdomain."""
        return f"http://{name}.hub.localhost:{self.port}"

    def request(self, host: str, path: str, **kwargs: Any) -> httpx.Response:
        """A plain HTTP request to `host` (a `*.hub.localhost` origin) through 127.0.0.1."""
        headers = {"Host": host.split("://", 1)[1], **kwargs.pop("headers", {})}
        return httpx.get(f"{self.hub.url}{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def sub() -> Iterator[SubdomainHub]:
    port = free_port()
    web = {"subdomain_host": f"http://hub.localhost:{port}"}
    with hub_with_document({"web": web}, port=port) as hub:
        yield SubdomainHub(hub, port)


def cookie(cookies: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    found = [c for c in cookies if c["name"].startswith(prefix)]
    assert len(found) == 1, [c["name"] for c in cookies]
    return found[0]


async def test_sessions_are_served_on_their_users_subdomain(sub: SubdomainHub) -> None:
    hub = sub.hub
    alice_url = f"{sub.of('alice')}/user/alice/iso/"
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            page = await context.new_page()
            await login(page, sub.public, "alice")
            # a login lands on the Sessions page, on the service's own host
            assert page.url == f"{sub.of('arcade--service')}/services/arcade/jobs"

            # The form's Batch link and the navigation's job list lead to the service's host.
            await page.goto(f"{sub.origin}/hub/spawn/alice/iso")
            service = f"{sub.of('arcade--service')}/services/arcade/"
            assert await page.get_attribute("#arcade-batch-link", "href") == f"{service}jobs/new"
            assert await page.get_attribute("#arcade-jobs-link", "href") == f"{service}jobs"

            await page.check("#image-notebook")
            await page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
            await page.wait_for_url(f"{alice_url}**", timeout=90_000)
            hub.wait_ready("alice", "iso")
            await page.wait_for_load_state()

            # Cookies: the hub's login cookie only for the hub's host, the session's only for
            # alice's host; none for the parent domain but the non-secret session id.
            cookies = await context.cookies()
            hub_cookie = cookie(cookies, "jupyterhub-hub-login")
            assert hub_cookie["domain"] == "hub.localhost" and hub_cookie["path"] == "/hub/"
            server_cookie = cookie(cookies, "jupyterhub-user-alice")
            assert server_cookie["domain"] == "alice.hub.localhost"
            assert server_cookie["httpOnly"]
            shared = {c["name"] for c in cookies if c["domain"].startswith(".")}
            assert shared <= {"jupyterhub-session-id"}, shared

            # The session answers on alice's host only: on the hub's host the same path is
            # the hub's, which sends the browser on to alice's host.
            token = {"Authorization": f"token {hub.user_token('alice')}"}
            r = sub.request(sub.of("alice"), "/user/alice/iso/api/status", headers=token)
            assert r.status_code == 200 and "started" in r.json(), r.text
            r = sub.request(sub.origin, "/user/alice/iso/api/status", headers=token)
            assert r.status_code == 302 and r.headers["location"].startswith(
                f"{sub.origin}/hub/user/alice/iso/"
            ), (r.status_code, r.headers)

            # The Sessions page, on the service's host, links back to the hub's host and to the
            # session on alice's host.
            await page.goto(f"{service}jobs")
            await page.wait_for_url(f"{service}jobs", timeout=30_000)
            token_page = page.get_by_role("link", name="Token", exact=True)
            assert await token_page.get_attribute("href") == f"{sub.origin}/hub/token"
            opening = page.get_by_role("link", name="Open", exact=True)
            assert await opening.get_attribute("href") == alice_url
            # So does the sessions API's connectURL.
            api = httpx.get(
                f"{hub.url}/services/arcade/skaha/v1/session",
                headers={**token, "Host": f"arcade--service.hub.localhost:{sub.port}"},
                timeout=30,
            )
            assert api.status_code == 200, api.text
            assert [s["connectURL"] for s in api.json()] == [alice_url]

            # Another user, logged in at the hub, is refused on alice's host.
            other = await (await browser.new_context()).new_page()
            await login(other, sub.public, "bob")
            response = await other.goto(alice_url)
            assert response is not None and response.status == 403
            assert "Possibly setting cookie on wrong domain" not in hub.log.read_text()
        finally:
            await browser.close()
            if hub.server("alice", "iso") is not None:
                hub.stop_server("alice", "iso")
