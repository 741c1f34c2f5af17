"""A hub whose public URL is https marks its cookies `Secure`, and tells its sessions to.

TLS itself ends in front of the hub (an ingress or reverse proxy), so the hub here still
listens on plain http on loopback; only its answers are checked (a client would not send
`Secure` cookies back over http, so nothing is followed, and the login sends its XSRF cookie
by hand, as a browser on https would).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.hub import RunningHub, env_of, hub_with_document


@pytest.fixture(scope="module")
def https_hub() -> Iterator[RunningHub]:
    with hub_with_document({"web": {"public_url": "https://hub.example.org/"}}) as hub:
        yield hub


def set_cookies(r: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}


def test_login_and_xsrf_cookies_are_secure_and_host_only(https_hub: RunningHub) -> None:
    with httpx.Client(base_url=https_hub.url, timeout=30) as client:
        page = client.get("/hub/login")
        xsrf = set_cookies(page)["_xsrf"]
        assert "; Secure" in xsrf and "Domain" not in xsrf, xsrf
        # httpx keeps a Secure cookie from going back over http; a browser on https would
        # send it, and without it the token is only valid within the second it was made in
        token = client.cookies["_xsrf"]
        r = client.post(
            "/hub/login",
            data={"username": "sam", "password": https_hub.password, "_xsrf": token},
            headers={"Cookie": f"_xsrf={token}"},
        )
        assert r.status_code == 302, r.text  # logged in (a refusal answers 403 with the form)
        assert "/hub/login" not in r.headers["location"]
        login = set_cookies(r)["jupyterhub-hub-login"]
        assert "; Secure" in login and "; HttpOnly" in login and "Domain" not in login, login


def test_sessions_are_told_to_make_their_cookies_secure(https_hub: RunningHub) -> None:
    https_hub.api("POST", "/users/sam")
    r = https_hub.api("POST", "/users/sam/servers/s", json={"cores": 0.25, "ram": 0.25})
    assert r.status_code in (201, 202), r.text
    try:
        https_hub.wait_ready("sam", "s")
        env = env_of(https_hub, "sam", "s")
        assert json.loads(env["JUPYTERHUB_COOKIE_OPTIONS"]) == {"secure": True}
    finally:
        https_hub.stop_server("sam", "s")
