"""Cross-origin form posts to spawn and stop are refused (XSRF) and start or stop nothing, at
the hub and at the arcade service: the embedded platform with shared-password login."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from arcade_hub.service.sessions import parse_iso
from tests.hub import RunningHub, hub_xsrf, wait_for
from tests.service.conftest import FINAL, Api
from tests.service.test_job_page import page_client, xsrf_of

pytestmark = pytest.mark.integration

EVIL = {"Origin": "http://evil.example", "Referer": "http://evil.example/page"}
FORM = {"image": "notebook", "cores": "1", "ram": "1"}


def test_cross_origin_spawn_post_is_refused(hub: RunningHub) -> None:
    user = "xsrf-victim"
    client = hub.login(user)  # the victim's browser: logged-in cookies are sent along
    try:
        # A form on another site posting to the hub: cookies, but no _xsrf token.
        r = client.post(f"/hub/spawn/{user}/evil", data=FORM, headers=EVIL)
        assert r.status_code == 403, r.text[:300]
        assert "xsrf" in r.text.lower()
        # Same without any Origin header (old browsers, or a stripped Referer).
        r = client.post(f"/hub/spawn/{user}/evil", data=FORM)
        assert r.status_code == 403
        # A forged token does not pass either.
        r = client.post(f"/hub/spawn/{user}/evil", data={**FORM, "_xsrf": "2|0|forged|1"})
        assert r.status_code == 403
        assert hub.server(user, "evil") is None  # nothing was started
        assert hub.api("GET", f"/users/{user}").json()["servers"] == {}

        # Cookie-authenticated API calls need the token too: no stop/start across origins.
        r = client.post(f"/hub/api/users/{user}/servers/evil", json={}, headers=EVIL)
        assert r.status_code == 403
        assert hub.server(user, "evil") is None
    finally:
        client.close()


def test_cross_origin_stop_is_refused(hub: RunningHub) -> None:
    user = "xsrf-stop"
    client = hub.login(user)
    try:
        # The hub's own form (same origin, with the token) does start a session...
        xsrf = hub_xsrf(client)
        r = client.post(
            f"/hub/spawn/{user}/mine", data={**FORM, "_xsrf": xsrf}, follow_redirects=False
        )
        assert r.status_code == 302, r.text[:300]
        hub.wait_ready(user, "mine")
        # ...which another origin cannot stop with the victim's cookies.
        r = client.delete(f"/hub/api/users/{user}/servers/mine", headers=EVIL)
        assert r.status_code == 403, r.text[:300]
        assert (hub.server(user, "mine") or {}).get("ready")
    finally:
        client.close()
        if hub.server(user, "mine") is not None:
            hub.stop_server(user, "mine")


# --- the arcade service -------------------------------------------------------------------

SERVICE = "/services/arcade/"


def service_cookies(r: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}


def test_the_services_cookies_are_samesite_lax(hub: RunningHub) -> None:
    with httpx.Client(base_url=hub.url, timeout=60, follow_redirects=True) as client:
        client.get("/hub/login")
        done = client.post("/hub/login", data={
            "username": "xsrf-cookies", "password": hub.password,
            "_xsrf": client.cookies["_xsrf"]})
    # a login lands on the Sessions page, logged in to the service through the hub's OAuth
    assert done.status_code == 200 and done.url.path == f"{SERVICE}jobs"
    assert "Your sessions" in done.text
    set_by_service: dict[str, str] = {}
    for r in (*done.history, done):
        if r.url.path.startswith(SERVICE):
            set_by_service |= {k: v for k, v in service_cookies(r).items() if '=""' not in v}
    # the OAuth state cookie, the login cookie and the XSRF cookie
    assert {"service-arcade-oauth-state", "service-arcade", "_xsrf"} <= set(set_by_service)
    for header in set_by_service.values():
        assert "; SameSite=Lax" in header, header


def test_the_services_cookie_needs_the_xsrf_token_on_every_route(hub: RunningHub) -> None:
    """SameSite does not protect from same-site pages (a user's own session server on a
    sibling subdomain is same-site): the XSRF token does. The login cookie alone changes
    nothing on any route; with the page's token, or with an API token, it works."""
    user = "xsrf-service"
    api = Api(hub, user)
    job = api.create(name="held", image="batch", type="headless", cmd="sleep 300")
    started = parse_iso(api.wait_status(job, ("Running",))["startTime"])
    assert started is not None
    client = page_client(hub, user)  # the victim's browser, logged in to the service
    try:
        token = xsrf_of(client.get(f"{SERVICE}jobs").text)
        # a forged renew would move the expiry by whole seconds: let one go by
        wait_for(lambda: time.time() > started + 1.5, 5, "a second to pass")
        before = api.request("GET", "session").json()
        create = {"name": "x", "image": "batch", "type": "headless", "cmd": "id"}
        unsafe: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "skaha/v1/session", {"params": create}),
            ("POST", "skaha/v1/session", {"data": create}),
            ("POST", f"skaha/v1/session/{job}", {"params": {"action": "renew"}}),
            ("DELETE", f"skaha/v1/session/{job}", {}),
            ("POST", f"api/v1/users/{user}/sessions/held/apps", {"json": {"app": "xterm"}}),
            ("POST", "jobs/new", {"data": {**create, "type": ""}}),
            ("POST", f"jobs/{job}/renew", {}),
            ("POST", f"jobs/{job}/terminate", {}),
        ]
        for forged in ({}, {"_xsrf": "2|0|forged|1"}):
            for method, path, kwargs in unsafe:
                params = {**kwargs.get("params", {}), **forged}
                r = client.request(method, SERVICE + path, headers=EVIL,
                                   **{**kwargs, "params": params})
                assert r.status_code == 403, (method, path, r.status_code, r.text[:300])
                if not path.startswith("jobs"):
                    assert "XSRF token" in r.json()["message"], r.text
        # The routes that only read refuse other methods; none changes anything.
        for path in ("skaha/v1/image", "skaha/v1/context", "skaha/v1/openapi.json", "jobs",
                     f"jobs/{job}/logs"):
            for method in ("POST", "DELETE", "PUT"):
                assert client.request(method, SERVICE + path).status_code in (403, 405)
        assert api.request("GET", "session").json() == before  # nothing created or renewed

        # The service's own pages send the token: the cookie then works, as a header too.
        r = client.post(f"{SERVICE}skaha/v1/session/{job}", params={"action": "renew"},
                        headers={"X-XSRFToken": token})
        assert r.status_code == 200, r.text
        assert api.session(job)["expiryTime"] > before[0]["expiryTime"]
        r = client.post(f"{SERVICE}skaha/v1/session", data={**create, "cmd": "true",
                                                             "_xsrf": token})
        assert r.status_code == 200, r.text
        other = r.text.strip()
        api.wait_status(other, FINAL)
        r = client.delete(f"{SERVICE}skaha/v1/session/{other}", headers={"X-XSRFToken": token})
        assert r.status_code == 200, r.text
        api.wait_gone(other)

        # An API token works as before, without any XSRF token.
        r = api.request("POST", f"session/{job}", params={"action": "renew"})
        assert r.status_code == 200, r.text
        assert api.request("DELETE", f"session/{job}").status_code == 200
        api.wait_gone(job)
    finally:
        client.close()
        for left in api.request("GET", "session").json():
            api.request("DELETE", f"session/{left['id']}")
