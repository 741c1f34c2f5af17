"""The job list page: the user's sessions and jobs with status and actions, in the browser."""

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
    assert r.status_code == 200 and "Sessions and jobs" in r.text, hub.tail(60)
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
        assert 'http-equiv="refresh"' in page  # the list refreshes itself

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


def test_hub_pages_link_the_job_list(hub: RunningHub) -> None:
    with closing(hub.login("carol")) as client:
        home = client.get("/hub/home").text
    assert 'id="arcade-jobs-link"' in home and "/services/arcade/jobs" in home
    assert 'id="arcade-home-jobs"' in home


def test_job_list_needs_login(hub: RunningHub) -> None:
    r = httpx.get(f"{hub.url}/services/arcade/jobs", follow_redirects=False)
    assert r.status_code == 302 and "/hub/api/oauth2/authorize" in r.headers["location"]
