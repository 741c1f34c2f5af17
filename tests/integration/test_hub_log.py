"""The hub's log as an operator reads it: JupyterHub's health check of the arcade service
(at start-up, then every minute) leaves no 404 and no line at all, and no line carries a
token: not the XSRF token of a user leaving the page of a starting session, nor an API token
a client put in a URL."""

from __future__ import annotations

import re
from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from arcade_hub.hub_config import SERVICE_PREFIX, STORAGE
from tests.hub import RunningHub, hub_with_document, hub_xsrf, wait_for

pytestmark = pytest.mark.integration

SERVICE_ROOT = re.compile(rf"\b[A-Z]+ {re.escape(SERVICE_PREFIX)} ")
"""A request line for the service's root itself (not its pages below it)."""


HEALTH_CHECK = re.compile(
    r"Server at http://127\.0\.0\.1:\d+(/services/[^/]+/) responded with (\d+)"
)
"""JupyterHub's own debug line for each answer to its check of a service."""


def lines_about_the_service_root(hub: RunningHub) -> list[str]:
    return [line for line in hub.log.read_text().splitlines() if SERVICE_ROOT.search(line)]


def test_every_health_check_is_answered_and_leaves_no_line_at_the_default_level() -> None:
    """The hub checks each service with a URL (the arcade service, the storage service) every
    `service_check_interval` (a minute; a second here, with the hub's debug lines on to see
    each check and what the service answered)."""
    settings = {"JupyterHub": {"service_check_interval": 1, "log_level": "DEBUG"}}
    services = {SERVICE_PREFIX, f"/services/{STORAGE}/"}
    with hub_with_document(hub_settings=settings) as hub:

        def periodic_checks() -> list[tuple[str, str]] | None:
            log = hub.log.read_text()
            started = log.find("JupyterHub is now running")
            found = HEALTH_CHECK.findall(log[started:]) if started >= 0 else []
            found = [(prefix, status) for prefix, status in found if prefix in services]
            checked = [prefix for prefix, _ in found]
            return found if all(checked.count(p) >= 3 for p in services) else None

        answers = wait_for(periodic_checks, 30, "three health checks of each service")
        text = hub.log.read_text()
        log = text[text.index("JupyterHub is now running"):].splitlines()
    assert {prefix for prefix, _ in answers} == services
    assert {int(status) // 100 for _, status in answers} <= {2, 3}, answers  # no 404
    about_roots = re.compile(rf"\b[A-Z]+ ({'|'.join(map(re.escape, services))}) ")
    assert [line for line in log if about_roots.search(line)] == []
    checked = [line for line in log if any(prefix in line for prefix in services)]
    assert [line for line in checked if " 404 " in line] == []
    assert [line for line in checked if line.startswith(("[W", "[E", "[C"))] == []


def test_the_health_check_of_the_arcade_service_is_answered_and_not_logged(
    hub: RunningHub,
) -> None:
    # JupyterHub checks the service's URL before it says it runs, then every minute
    assert "JupyterHub is now running" in hub.log.read_text()
    assert lines_about_the_service_root(hub) == []
    # the same request (no cookie, no token) through the proxy: answered, below 400
    r = httpx.get(f"{hub.url}{SERVICE_PREFIX}", follow_redirects=False, timeout=30)
    assert r.status_code < 400, r.status_code
    assert r.headers["location"] == f"{SERVICE_PREFIX}jobs"
    jobs = httpx.get(f"{hub.url}{SERVICE_PREFIX}jobs", follow_redirects=False, timeout=30)
    assert jobs.status_code == 302  # the Sessions & jobs page logs the browser in
    wait_for(lambda: f"GET {SERVICE_PREFIX}jobs " in hub.log.read_text(), 10, "its log line")
    assert lines_about_the_service_root(hub) == []


def test_a_person_at_the_services_address_lands_on_the_sessions_page(hub: RunningHub) -> None:
    with closing(hub.login("mia")) as browser:
        page = browser.get(SERVICE_PREFIX)
    assert page.status_code == 200
    assert page.url.path == f"{SERVICE_PREFIX}jobs"
    assert "<h1" in page.text and "Your sessions" in page.text
    # the storage service's address shows what it serves (VOSI capabilities), to anyone
    caps = httpx.get(f"{hub.url}/services/{STORAGE}/", follow_redirects=True, timeout=30)
    assert caps.status_code == 200 and caps.url.path == f"/services/{STORAGE}/capabilities"
    assert "vospace" in caps.text.lower() and "capabilities" in caps.text


def test_leaving_a_starting_sessions_page_leaves_no_xsrf_token_in_the_log(
    hub: RunningHub,
) -> None:
    """The page a form launch lands on follows the spawn's progress with `?_xsrf=<token>` in
    its URL; when the user leaves it before the session is ready, JupyterHub warns that the
    stream was closed, naming the URL."""
    with closing(hub.login("lea")) as browser:
        browser.get("/hub/spawn/lea/nb")
        xsrf = hub_xsrf(browser)
        form = {"image": "notebook", "cores": "1", "ram": "1", "_xsrf": xsrf}
        # as the form's own action URL does, the token rides in the query too
        r = browser.post("/hub/spawn/lea/nb", params={"_xsrf": xsrf}, data=form,
                         follow_redirects=False)
        assert r.status_code == 302, r.text[:300]
        token = parse_qs(urlsplit(r.headers["location"]).query)["_xsrf"][0]
        assert len(token) > 40
        progress = "/hub/api/users/lea/servers/nb/progress"
        with browser.stream("GET", progress, params={"_xsrf": token}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    break  # the user leaves the page after the first event

        def left() -> list[str]:
            return [line for line in hub.log.read_text().splitlines()
                    if "Stream closed while handling" in line and progress in line]  # fmt: skip

        warning = wait_for(left, 60, "the hub to see the progress stream closed")
    hub.wait_ready("lea", "nb")
    hub.stop_server("lea", "nb")
    assert "_xsrf=[secret]" in warning[0], warning
    assert lines_carrying(hub, token) == []


def test_an_api_token_in_a_url_is_not_logged(hub: RunningHub) -> None:
    """A client may put its token in the query (`?token=`; the hub and the service ignore it
    there, as JupyterHub 5 does): their request lines for it do not carry it, nor any other
    secret of the platform (the admin token, the shared password)."""
    token = hub.user_token("lea")
    for path in ("/hub/api/user", f"{SERVICE_PREFIX}skaha/v1/session"):
        r = httpx.get(f"{hub.url}{path}", params={"token": token}, timeout=30)
        assert r.status_code in (401, 403), (path, r.status_code)  # refused, not an error
    wait_for(lambda: lines_carrying(hub, "/hub/api/user?token=[secret]"), 10, "the hub's line")
    wait_for(lambda: lines_carrying(hub, f"GET {SERVICE_PREFIX}skaha/v1/session "), 10,
             "the service's line")
    assert hub.password
    for secret in (token, hub.token, hub.password):
        assert lines_carrying(hub, secret) == []


def lines_carrying(hub: RunningHub, text: str) -> list[str]:
    """The log's lines with `text` in them (a secret: its first 16 characters are enough)."""
    return [line for line in hub.log.read_text().splitlines() if text[:16] in line]
