"""The hub's log as an operator reads it: JupyterHub's health check of the arcade service
(at start-up, then every minute) leaves no 404."""

from __future__ import annotations

import re

import httpx
import pytest

from arcade_hub.hub_config import SERVICE_PREFIX
from tests.hub import RunningHub, wait_for

pytestmark = pytest.mark.integration

SERVICE_ROOT = re.compile(rf"\b[A-Z]+ {re.escape(SERVICE_PREFIX)} ")
"""A request line for the service's root itself (not its pages below it)."""


def lines_about_the_service_root(hub: RunningHub) -> list[str]:
    return [line for line in hub.log.read_text().splitlines() if SERVICE_ROOT.search(line)]


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
