"""The Sessions page (`jobs`): the user's sessions and jobs with status and actions, as a
browser's requests meet it (the browser itself: tests/e2e/test_pages_in_browser.py)."""

from __future__ import annotations

import html
import re
from contextlib import closing

import httpx

from tests.hub import RunningHub
from tests.service.conftest import Api


def page_client(hub: RunningHub, user: str) -> httpx.Client:
    """A browser-like client logged in to the hub and, through OAuth, to the job list."""
    client = hub.login(user)
    r = client.get("/services/arcade/jobs")
    assert r.status_code == 200 and "<h1" in r.text and "Your sessions" in r.text, hub.tail(60)
    return client


def xsrf_of(page: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert match, "no XSRF token in the page"
    return html.unescape(match.group(1))


def test_job_list_shows_jobs_and_acts_on_them(hub: RunningHub, alice: Api) -> None:
    job = alice.create(name="sleepy", image="batch", type="headless", cmd="sleep 300")
    alice.wait_status(job, ("Running",))
    with closing(page_client(hub, "alice")) as client:
        page = client.get("/services/arcade/jobs").text
        assert f'id="row-{job}"' in page
        row = page.split(f'id="row-{job}"')[1].split("</tr>")[0]
        assert "sleepy" in row and "headless" in row and "Running" in row
        assert 'data-refresh-seconds="10"' in page  # the list refreshes itself in place
        # a running job offers renew and terminate, and says when it expires; not remove
        assert "/renew" in row and "/terminate" in row and "expires" in row
        assert "/remove" not in row
        r = client.post(f"/services/arcade/jobs/{job}/remove", data={"_xsrf": xsrf_of(page)})
        assert r.status_code == 409 and "still running: terminate it first" in r.text
        assert alice.session(job)["status"] == "Running"

        # Another user's list does not show it, and cannot act on it.
        with closing(page_client(hub, "bob")) as other:
            theirs = other.get("/services/arcade/jobs").text
            assert job not in theirs
            r = other.post(f"/services/arcade/jobs/{job}/terminate",
                           data={"_xsrf": xsrf_of(theirs) if "_xsrf" in theirs else ""})
            assert r.status_code in (403, 404)

        # A form post without the XSRF token is refused and changes nothing.
        r = client.post(f"/services/arcade/jobs/{job}/terminate")
        assert r.status_code == 403
        assert alice.session(job)["status"] == "Running"

        before = alice.session(job)["expiryTime"]
        r = client.post(f"/services/arcade/jobs/{job}/renew", data={"_xsrf": xsrf_of(page)})
        assert r.status_code == 200 and str(r.url).endswith("/services/arcade/jobs")
        assert alice.session(job)["expiryTime"] >= before

        r = client.post(f"/services/arcade/jobs/{job}/terminate", data={"_xsrf": xsrf_of(page)})
        assert r.status_code == 200 and str(r.url).endswith("/services/arcade/jobs")
        alice.wait_gone(job)  # terminate is skaha's DELETE: the job and its record go
        assert f'id="row-{job}"' not in client.get("/services/arcade/jobs").text


def test_the_hubs_home_and_a_login_are_the_sessions_page(hub: RunningHub) -> None:
    with closing(hub.login("carol")) as client:
        landed = client.get("/hub/")
        assert str(landed.url).endswith("/services/arcade/jobs"), landed.url
        home = client.get("/hub/home").text
        assert 'http-equiv="refresh" content="0; url=/services/arcade/jobs"' in home
        assert 'id="arcade-jobs-link"' in home and 'id="arcade-new-session-link"' in home
        # the service's own address (the hub's health check asks it too) is Sessions
        r = client.get("/services/arcade/", follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == "/services/arcade/jobs"


def test_new_session_opens_the_form_of_a_fresh_session(hub: RunningHub) -> None:
    with closing(hub.login("carol")) as client:
        page_client(hub, "carol").close()
        first = client.get("/services/arcade/new", follow_redirects=False)
        second = client.get("/services/arcade/new", follow_redirects=False)
        pattern = re.compile(r"/hub/spawn/carol/[a-z][a-z0-9]{7}")
        for r in (first, second):
            assert r.status_code == 303 and pattern.fullmatch(r.headers["location"]), r.headers
        assert first.headers["location"] != second.headers["location"]
        form = client.get(first.headers["location"])
        assert "<h1>New session</h1>" in form.text and 'id="arcade-form"' in form.text
        # a form opened and left is the next one's (the hub keeps a server for it): opening
        # the form again and again does not pile up stopped servers
        for _ in range(3):
            again = client.get("/services/arcade/new", follow_redirects=False)
            assert again.headers["location"] == first.headers["location"]
            client.get(again.headers["location"])
        r = hub.api("GET", "/users/carol", params={"include_stopped_servers": "1"})
        assert [n for n in r.json()["servers"] if n] == [first.headers["location"][-8:]]


def test_the_unnamed_session_is_listed_and_can_be_stopped(hub: RunningHub, alice: Api) -> None:
    """A session started without a name (a link to /user/NAME/, "Start My Server") is in
    the list and the API as `default`, and stops from either."""
    r = hub.api("POST", "/users/alice/server", json={"image": "notebook"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice", "")
    try:
        listed = {s["id"]: s for s in alice.request("GET", "session").json()}
        assert listed["default"]["status"] == "Running", listed
        assert listed["default"]["connectURL"].endswith("/user/alice/")
        assert alice.session("default")["type"] == "notebook"
        with closing(page_client(hub, "alice")) as client:
            page = client.get("/services/arcade/jobs").text
            assert 'id="row-default"' in page and "JupyterLab" in page
        r = alice.request("DELETE", "session/default")
        assert r.status_code == 200, r.text
        alice.wait_gone("default")
    finally:
        hub.api("DELETE", "/users/alice/server")


def test_a_named_session_may_not_take_the_unnamed_ones_id(hub: RunningHub) -> None:
    r = hub.api("POST", "/users/alice/servers/default", json={"image": "notebook"})
    assert r.status_code == 400 and "'default' is the name of your unnamed session" in r.text


def test_a_log_page_for_browsers_and_plain_text_for_clients(hub: RunningHub, alice: Api) -> None:
    job = alice.create(name="say", image="batch", type="headless", cmd="echo hello-log")
    alice.wait_status(job, ("Succeeded",))
    with closing(page_client(hub, "alice")) as client:
        url = f"/services/arcade/jobs/{job}/logs"
        page = client.get(url, headers={"Accept": "text/html,*/*"})
        assert page.headers["Content-Type"].startswith("text/html")
        assert "hello-log" in page.text and 'id="back"' in page.text
        assert 'href="/services/arcade/jobs"' in page.text
        for r in (client.get(url), client.get(url, params={"format": "text"},
                                              headers={"Accept": "text/html"})):
            assert r.headers["Content-Type"].startswith("text/plain")
            assert r.text == "hello-log\n"


def test_job_list_needs_login(hub: RunningHub) -> None:
    r = httpx.get(f"{hub.url}/services/arcade/jobs", follow_redirects=False)
    assert r.status_code == 302 and "/hub/api/oauth2/authorize" in r.headers["location"]
