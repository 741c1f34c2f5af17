"""Cross-origin form posts to spawn and stop are refused (XSRF) and start or stop nothing:
the embedded platform with shared-password login."""

from __future__ import annotations

import pytest

from tests.hub import RunningHub

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
        xsrf = client.cookies["_xsrf"]
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
