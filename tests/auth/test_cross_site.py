"""Another web site cannot act through the arcade service's login cookie, in Debian Chromium.

Alice logs in and opens her job list, so her browser holds the service's cookie; then she
visits a page of another site (a loopback server addressed as `localhost`, the hub being at
`127.0.0.1`: another origin and another site), which submits forms at once to the sessions
API, the job list's actions, the Batch page and the app-launch API. Nothing is created,
renewed or stopped: the service's cookies are SameSite=Lax (a cross-site POST does not carry
them) and a cookie-authenticated change needs the XSRF token anyway.
"""

from __future__ import annotations

import contextlib
import html
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from arcade_hub.service.sessions import parse_iso
from tests.e2e.browser import logged_in_page
from tests.hub import RunningHub, wait_for
from tests.service.conftest import Api

pytestmark = pytest.mark.e2e


def auto_post(action: str, fields: dict[str, str], enctype: str = "") -> str:
    """A page that posts a form to `action` as soon as it loads."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    kind = f' enctype="{enctype}"' if enctype else ""
    return (
        f'<!DOCTYPE html><title>Win a telescope</title><form id="f" method="post" '
        f'action="{html.escape(action)}"{kind}>{inputs}</form>'
        '<script>document.getElementById("f").submit()</script>'
    )


@contextlib.contextmanager
def other_site(pages: dict[str, str]) -> Iterator[str]:
    """Serve `pages` (path -> HTML) on a free loopback port; yields the site's origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "not here").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_another_site_cannot_act_through_the_service_cookie(hub: RunningHub) -> None:
    api = Api(hub, "alice")
    job = api.create(name="held", image="batch", type="headless", cmd="sleep 300")
    try:
        started = parse_iso(api.wait_status(job, ("Running",))["startTime"])
        assert started is not None
        service = f"{hub.url}/services/arcade"
        json_body = {'{"app": "xterm", "pad": "': '"}'}  # text/plain: {"app": ..., "pad": "="}
        attacks = {
            "/create": auto_post(
                f"{service}/skaha/v1/session?name=x&image=batch&cmd=id&type=headless", {}
            ),
            "/create-form": auto_post(
                f"{service}/skaha/v1/session",
                {"name": "y", "image": "batch", "cmd": "id", "type": "headless"},
            ),
            "/renew": auto_post(f"{service}/skaha/v1/session/{job}?action=renew", {}),
            "/page-renew": auto_post(f"{service}/jobs/{job}/renew", {}),
            "/page-terminate": auto_post(f"{service}/jobs/{job}/terminate", {}),
            "/batch": auto_post(
                f"{service}/jobs/new", {"name": "z", "image": "batch", "cmd": "id"}
            ),
            "/app": auto_post(
                f"{service}/api/v1/users/alice/sessions/held/apps", json_body, "text/plain"
            ),
        }
        with other_site(attacks) as site:
            async with logged_in_page(hub, "alice") as page:
                await page.goto(f"{service}/jobs")
                await page.wait_for_selector(f"#row-{job}")  # she holds the cookie now
                cookies = {c["name"] for c in await page.context.cookies()}
                assert "service-arcade" in cookies, cookies
                # a forged renew would move the expiry by whole seconds: let one go by
                wait_for(lambda: time.time() > started + 1.5, 5, "a second to pass")
                before = api.request("GET", "session").json()

                for path in attacks:
                    async with page.expect_response(
                        lambda r: r.url.startswith(service) and r.request.method == "POST"
                    ) as answer:
                        await page.goto(site + path)
                    response = await answer.value
                    request = response.request
                    # a real cross-site navigation, from the other origin
                    assert await request.header_value("sec-fetch-site") == "cross-site"
                    assert await request.header_value("origin") == site
                    assert response.status in (401, 403), (
                        path, response.status, await response.text()
                    )
        after = api.request("GET", "session").json()
        assert after == before, json.dumps([before, after], indent=1)  # nothing changed
    finally:
        for left in api.request("GET", "session").json():
            api.request("DELETE", f"session/{left['id']}")
        for left in api.request("GET", "session").json():
            api.wait_gone(left["id"])
