"""An admin acts on the session of the user whose row it is, not on an own session that
happens to have the same name (a session's id is unique per user only): from the job list
and through the sessions API."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
import yaml

from arcade_hub.service.sessions import parse_iso
from tests.hub import PLATFORM, RunningHub, hub_with_document, wait_for
from tests.service.conftest import Api
from tests.service.test_job_page import xsrf_of

pytestmark = pytest.mark.integration

BOSS = "boss"
SMALL = {"image": "notebook", "cores": 0.25, "ram": 0.25}


@pytest.fixture(scope="module")
def hub() -> Iterator[RunningHub]:
    auth = yaml.safe_load(PLATFORM.read_text())["auth"] | {"admin_users": [BOSS]}
    with hub_with_document({"auth": auth}) as running:
        yield running


def admin_page_client(hub: RunningHub) -> httpx.Client:
    """The admin's browser: logged in with the admins' password, then on the job list."""
    password = (hub.data_dir / "admin-password").read_text().strip()
    client = httpx.Client(base_url=hub.url, timeout=60, follow_redirects=True)
    client.get("/hub/login")
    r = client.post("/hub/login", data={"username": BOSS, "password": password,
                                        "_xsrf": client.cookies["_xsrf"]})
    assert r.status_code == 200 and "/hub/login" not in str(r.url), r.text[:300]
    return client


def start(hub: RunningHub, user: str, name: str) -> None:
    hub.api("POST", f"/users/{user}")
    r = hub.api("POST", f"/users/{user}/servers/{name}", json=SMALL)
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user, name)


def row_form(page: str, user: str, name: str, action: str) -> str:
    """The hidden owner field of `action` in the row of `user`'s session `name`."""
    row_id = f'id="row-{user}--{name}"'  # an admin's list: the owner in every row's id
    rows = [r for r in page.split("<tr ")[1:] if row_id in r and f">{user}<" in r]
    assert len(rows) == 1, page
    form = re.search(rf'action="[^"]*jobs/{name}/{action}">(.*?)</form>', rows[0])
    assert form, rows[0]
    return form.group(1)


def test_an_admin_acts_on_the_rows_owner_session(hub: RunningHub) -> None:
    bob, boss = Api(hub, "bob"), Api(hub, BOSS)
    for user in ("bob", BOSS):
        start(hub, user, "shared")
    try:
        with closing(admin_page_client(hub)) as client:
            page = client.get("/services/arcade/jobs", params={"view": "all"}).text
            assert 'name="owner" value="bob"' in row_form(page, "bob", "shared", "terminate")
            xsrf = xsrf_of(page)
            # a renew would move the expiry by whole seconds: let one go by
            started = parse_iso(bob.session("shared")["startTime"])
            assert started is not None
            wait_for(lambda: time.time() > started + 1.5, 5, "a second to pass")
            theirs, mine = bob.session("shared")["expiryTime"], boss.session("shared")["expiryTime"]

            r = client.post("/services/arcade/jobs/shared/renew",
                            data={"_xsrf": xsrf, "owner": "bob"})
            assert r.status_code == 200, r.text[:300]
            assert bob.session("shared")["expiryTime"] > theirs
            assert boss.session("shared")["expiryTime"] == mine

            r = client.post("/services/arcade/jobs/shared/terminate",
                            data={"_xsrf": xsrf, "owner": "bob"})
            assert r.status_code == 200, r.text[:300]
        bob.wait_gone("shared")
        assert (hub.server(BOSS, "shared") or {}).get("ready")  # the admin's own runs on

        # The sessions API: `owner` says whose; a user may not name another owner.
        start(hub, "bob", "shared")
        assert bob.request("DELETE", "session/shared", params={"owner": BOSS}).status_code == 404
        r = boss.request("GET", "session/shared", params={"owner": "bob"})
        assert r.status_code == 200 and r.json()["userid"] == "bob", r.text
        assert boss.session("shared")["userid"] == BOSS  # without owner: the admin's own
        assert boss.request("DELETE", "session/shared", params={"owner": "bob"}).status_code == 200
        bob.wait_gone("shared")
        assert (hub.server(BOSS, "shared") or {}).get("ready")
    finally:
        for user in ("bob", BOSS):
            if hub.server(user, "shared") is not None:
                hub.stop_server(user, "shared")


def test_without_owner_an_admin_finds_the_one_user_with_that_session(hub: RunningHub) -> None:
    bob, carol, boss = Api(hub, "bob"), Api(hub, "carol"), Api(hub, BOSS)
    start(hub, "bob", "lonely")
    try:
        r = boss.request("GET", "session/lonely")
        assert r.status_code == 200 and r.json()["userid"] == "bob", r.text
        start(hub, "carol", "lonely")
        r = boss.request("DELETE", "session/lonely")
        assert r.status_code == 409 and "give owner=" in r.json()["message"], r.text
        assert carol.session("lonely")["status"] == "Running"
        assert bob.session("lonely")["status"] == "Running"
    finally:
        for user in ("bob", "carol"):
            if hub.server(user, "lonely") is not None:
                hub.stop_server(user, "lonely")
