"""Every page a user meets, as they meet it in Debian Chromium: one Arcade look (the hub's
pages and the service's share the navigation), sessions first (a login lands on Sessions,
"New session" opens the form), no serious or critical axe-core violation on any page and
none at all on the hub's (one main landmark each: the launch form, token, 404, login, a
session not running, starting or stopping, the admin page), and the screenshots the docs
show."""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arcade_hub.spawners.local import ArcadeLocalSpawner
from tests.e2e.browser import (
    ANY,
    SERIOUS,
    accessibility_problems,
    logged_in_page,
    screenshot,
)
from tests.hub import RunningHub, make_gate, release, running_hub, shared_tmp, wait_for
from tests.service.conftest import Api

pytestmark = pytest.mark.e2e

NAV = ("Sessions", "New session", "Batch job", "Token")
SETTLED = "document.getAnimations().every(a => a.playState === 'finished')"
"""No CSS transition under way (e.g. after a change of theme)."""


async def nav_texts(page: Any) -> list[str]:
    links = page.locator("#thenavbar .navbar-nav a.nav-link")
    return [t.strip() for t in await links.all_inner_texts()]


async def assert_accessible(page: Any, what: str, impacts: tuple[str, ...] = SERIOUS) -> None:
    problems = await accessibility_problems(page, impacts)
    assert not problems, f"{what}: " + "\n".join(problems)


async def assert_one_main(page: Any, what: str) -> None:
    """The page has one main landmark, and the skip link leads to it."""
    assert await page.locator("main").count() == 1, what
    assert await page.locator("main").get_attribute("id") == "main", what


async def test_login_lands_on_sessions_and_new_session_opens_the_form(hub: RunningHub) -> None:
    async with logged_in_page(hub, "carol") as page:
        # a login lands on the user's sessions, in the hub's look with Arcade's navigation
        assert await page.inner_text("h1") == "Your sessions"
        assert await nav_texts(page) == list(NAV)
        assert await page.locator("#arcade-brand").inner_text() == "Arcade Hub"
        assert await page.locator("#empty").is_visible()
        await assert_accessible(page, "Sessions (empty)")
        await assert_one_main(page, "Sessions (empty)")
        # the hub's home is the same list
        await page.goto(f"{hub.url}/hub/home")
        await page.wait_for_url("**/services/arcade/jobs")
        # "New session" opens the launch form of a new session
        await page.click("#new-session")
        await page.wait_for_url(re.compile(r".*/hub/spawn/carol/[a-z][a-z0-9]{7}$"))
        assert await page.inner_text("h1") == "New session"
        assert await nav_texts(page) == list(NAV)
        await assert_accessible(page, "the launch form", ANY)
        await assert_one_main(page, "the launch form")
        await screenshot(page, "launch-form")
        # filtering hides the groups it empties, headings included
        groups = page.locator(".arcade-group:visible h2")
        assert await groups.count() >= 3
        await page.fill("#arcade-filter", "terminal")
        assert await groups.all_inner_texts() == ["Desktop apps"]
        await page.fill("#arcade-filter", "")
        assert await groups.count() >= 3
        # the hub's own pages keep the look and pass too, every rule: the token page, its 404
        # and what a session's address shows when nothing runs there (not started yet)
        name = page.url.rsplit("/", 1)[-1]
        for path in ("hub/token", "hub/no-such-page", f"hub/user/carol/{name}/"):
            await page.goto(f"{hub.url}/{path}")
            assert await nav_texts(page) == list(NAV), path
            await assert_accessible(page, path, ANY)
            await assert_one_main(page, path)
        # and the login page, as the next visitor meets it
        await page.goto(f"{hub.url}/hub/logout")
        await page.wait_for_url("**/hub/login**")
        assert await page.locator("#arcade-brand").count() == 1
        await assert_accessible(page, "the login page", ANY)
        await assert_one_main(page, "the login page")
        await screenshot(page, "login")


async def test_sessions_page_shows_what_runs_and_groups_a_jobs_instances(hub: RunningHub) -> None:
    api = Api(hub, "dave")
    job = api.create(name="fit", image="batch", cmd="echo", params="m31 1.5\nm33 2.5\nm81 0.7")
    api.wait_status(job, ("Succeeded",), timeout=120)
    async with logged_in_page(hub, "dave") as page:
        job_row = page.locator(f"#job-{job}")
        assert "3 instances: 3 Succeeded" in await job_row.inner_text()
        params = await page.locator(".arcade-instance .arcade-param").all_inner_texts()
        assert params == ["m31 1.5", "m33 2.5", "m81 0.7"]
        # a finished job offers its log and removal, not renew or terminate, and no expiry
        assert await job_row.get_by_role("button", name=re.compile("Renew|Terminate")).count() == 0
        assert "expires" not in await job_row.inner_text()
        assert "finished" in await job_row.inner_text()
        await assert_accessible(page, "Sessions with a job")
        await screenshot(page, "sessions")
        # the order is the same at every refresh
        ids = "rows => rows.map(r => r.id)"
        order = await page.locator("#jobs tbody tr").evaluate_all(ids)
        await page.reload()
        assert await page.locator("#jobs tbody tr").evaluate_all(ids) == order
        # a log page says whose log it is and has the way back
        await page.click(f"#row-{job}-2 a:has-text('Log')")
        assert "m33 2.5" in await page.inner_text("#log")
        await assert_accessible(page, "a job's log")
        await page.click("#back")
        await page.wait_for_url("**/services/arcade/jobs")
        # removing the finished job takes it off the list
        await job_row.get_by_role("button", name=re.compile("Remove")).click()
        await page.wait_for_url("**/services/arcade/jobs")
        assert await page.locator(f"#job-{job}").count() == 0
    assert job not in {s["id"] for s in api.request("GET", "session").json()}


async def test_batch_and_error_pages_share_the_look(hub: RunningHub) -> None:
    async with logged_in_page(hub, "erin") as page:
        await page.click("#new-batch-job")
        await page.wait_for_url("**/services/arcade/jobs/new")
        assert await nav_texts(page) == list(NAV)
        await assert_accessible(page, "the Batch page")
        # every problem of a submission at once, each at its field
        await page.fill("#name", "")
        # (past the browser's own checks, as a script or an old browser would send it)
        await page.evaluate("document.getElementById('batch-form').noValidate = true")
        await page.fill("#instances", "100000")
        await page.click("#submit")
        await page.locator(".arcade-error").first.wait_for()  # the answer's page, loaded
        errors = await page.locator(".arcade-error").all_inner_texts()
        assert len(errors) >= 2, errors
        await assert_accessible(page, "the Batch page with errors")
        await screenshot(page, "batch-errors")
        response = await page.goto(f"{hub.url}/services/arcade/jobs/nosuchjob/logs")
        assert response is not None and response.status == 404
        assert "no session 'nosuchjob'" in await page.inner_text("#message")
        assert await nav_texts(page) == list(NAV)
        await assert_accessible(page, "an error page")


async def test_the_sessions_list_follows_a_job_without_a_reload(hub: RunningHub) -> None:
    api = Api(hub, "frank")
    job = api.create(name="nap", image="batch", cmd="sleep", args="8")
    api.wait_status(job, ("Running",), timeout=120)
    async with logged_in_page(hub, "frank") as page:
        assert await page.inner_text(f"#row-{job} .arcade-status") == "Running"
        await page.evaluate("window.notReloaded = true")
        # the list refreshes itself (every 10 s) to the job's end, in place
        done = page.locator(f"#row-{job} .arcade-status", has_text="Succeeded")
        await done.wait_for(timeout=60_000)
        assert await page.evaluate("window.notReloaded === true")


ADMIN = ("ada", "an admin's password of at least 32 characters")
"""An admin of `hub_holding_sessions`'s hub and the password admins log in with."""


@contextlib.contextmanager
def hub_holding_sessions() -> Iterator[tuple[RunningHub, Path]]:
    """A hub whose sessions' servers wait, once started, until the test writes a line to the
    returned FIFO: the page of a starting session stays up as long as the test needs it. A
    session let go on with "slow" takes ten seconds to stop (its server's parent ignores
    SIGINT and SIGTERM until the hub kills it), and the hub answers a stop after one second:
    the page of a stopping session stays up too. The hub has an admin, `ADMIN`."""
    tmp = shared_tmp()
    gate = make_gate(tmp)
    held = (f"read go < {shlex.quote(str(gate))} || exit 1; if [ \"$go\" = slow ]; then "
            "trap '' INT TERM; \"$0\" \"$@\"; exit; fi; exec \"$0\" \"$@\"")
    command = ["/bin/sh", "-c", held, ArcadeLocalSpawner.singleuser_command()]
    settings = {
        "ArcadeLocalSpawner": {"cmd": command, "interrupt_timeout": 5, "term_timeout": 5},
        "JupyterHub": {"slow_stop_timeout": 1},
        "Authenticator": {"admin_users": [ADMIN[0]]},
        "SharedPasswordAuthenticator": {"admin_password": ADMIN[1]},
    }
    try:
        with running_hub(tmp, hub_settings=settings) as hub:
            yield hub, gate
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def hold_the_reload(page: Any) -> None:
    """Keep JupyterHub's page of a stopping session from reloading itself (every 5 s) while a
    test looks at it: once its script has set the timer (with the refresh button's handler),
    clear every timer of the page."""
    await page.wait_for_function(
        "() => { const e = window.jQuery && jQuery._data(document.getElementById('refresh'),"
        " 'events'); return Boolean(e && e.click); }"
    )
    await page.evaluate(
        "() => { const last = setTimeout(() => {}); for (let i = 0; i <= last; i++)"
        " clearTimeout(i); }"
    )


async def start_from_the_form(page: Any, hub: RunningHub, user: str, name: str) -> None:
    """Launch JupyterLab from the form; return on the page of the starting session once its
    server has been started (and waits at the gate)."""
    await page.goto(f"{hub.url}/hub/spawn/{user}/{name}")
    await page.check("#image-notebook")
    await page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
    await page.wait_for_url(f"**/hub/spawn-pending/{user}/{name}**")
    await page.locator("#progress-message", has_text="Starting the session's server").wait_for()


async def test_a_starting_session_shows_its_steps_can_be_cancelled_and_says_why_it_failed(
) -> None:
    with hub_holding_sessions() as (hub, gate):
        async with logged_in_page(hub, "gus") as page:
            await start_from_the_form(page, hub, "gus", "first")
            # the page of a starting session, in the Arcade look, passes axe-core
            assert await page.inner_text("h1") == "Starting your session"
            assert await nav_texts(page) == list(NAV)
            assert await page.get_attribute("#progress-bar", "aria-valuenow") == "70"
            await page.click("#progress-details summary")
            # no axe-core violation at all, in the light and the dark theme
            await assert_accessible(page, "a starting session", ANY)
            await screenshot(page, "spawn-pending")
            await page.click("#dark-theme-toggle")
            await page.wait_for_function(SETTLED)  # links fade to their colours
            await assert_accessible(page, "a starting session (dark)", ANY)
            await page.click("#dark-theme-toggle")
            # its steps say what happens, in a user's words
            steps = await page.locator(".progress-log-event").all_inner_texts()
            assert steps == [
                "Server requested",
                "Starting JupyterLab (ghcr.io/arcade-hub/notebook:0.1.0) with 1 core, 1 GiB RAM",
                "Preparing your home, scratch space and datasets",
                steps[3],
                "Starting the session's server",
            ], steps
            assert steps[3].startswith("Limiting the session to 1 core and 1 GiB RAM"), steps
            # once the server answers, the page opens the session (one that stops slowly)
            wait_for(lambda: release(gate, "slow\n"), 30, "the server to wait at the gate")
            await page.wait_for_url("**/user/gus/first/**", timeout=60_000)
            # another one, cancelled while it starts: stopped, and the user is back on Sessions
            await start_from_the_form(page, hub, "gus", "second")
            await page.click("#arcade-cancel")
            await page.wait_for_url("**/services/arcade/jobs")
            second = hub.server("gus", "second") or {}
            assert not second.get("ready") and not second.get("pending"), second
            assert (hub.server("gus", "first") or {}).get("ready")
            # a third one fails to start (its server exits): the page says why, in plain words,
            # and offers the way on instead of Cancel
            await start_from_the_form(page, hub, "gus", "third")
            wait_for(lambda: release(gate, ""), 30, "the session's server to wait at the gate")
            await page.locator("#progress-bar.bg-danger").wait_for()
            assert await page.inner_text("h1") == "Your session could not start"
            why = "Spawn failed: the session's server exited with status 1 while starting"
            assert await page.inner_text("#progress-message") == why
            assert (await page.locator(".progress-log-event").all_inner_texts())[-1] == why
            assert not await page.locator("#arcade-cancel").is_visible()
            await page.wait_for_function(SETTLED)  # the bar, grown to its end
            await assert_accessible(page, "a session that failed to start", ANY)
            await screenshot(page, "spawn-failed")
            await page.click("#arcade-failed >> text=Back to Sessions")
            await page.wait_for_url("**/services/arcade/jobs")
            # the admin page (JupyterHub's, in the Arcade look) renders its list and passes too
            admin = await page.context.browser.new_page()
            await admin.goto(f"{hub.url}/hub/login")
            await admin.fill("#username_input", ADMIN[0])
            await admin.fill("#password_input", ADMIN[1])
            await admin.click("#login_submit")
            await admin.wait_for_url("**/services/arcade/jobs")
            await admin.goto(f"{hub.url}/hub/admin")
            await admin.get_by_text("gus", exact=True).first.wait_for()
            await assert_accessible(admin, "the admin page", ANY)
            await assert_one_main(admin, "the admin page")
            # while the first one stops, its address says so, in the Arcade look
            stop = hub.api("DELETE", "/users/gus/servers/first")
            assert stop.status_code == 202, stop.text
            await page.goto(f"{hub.url}/hub/user/gus/first/")
            assert await page.inner_text("h1") == "Your session is stopping"
            assert await nav_texts(page) == list(NAV)
            await hold_the_reload(page)
            await assert_accessible(page, "a stopping session", ANY)
            await assert_one_main(page, "a stopping session")
            await page.click("#arcade-back")
            await page.wait_for_url("**/services/arcade/jobs")
        wait_for(lambda: not (hub.server("gus", "first") or {}).get("pending"), 30,
                 "the first session to stop")
