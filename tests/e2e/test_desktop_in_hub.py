"""A desktop session through the real hub, in Debian Chromium: log in, pick the desktop in the
form, see it, launch an app into it through the platform API, and stop without leftovers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from arcade_hub.local.nss import nss_wrapper_library
from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS, artifacts_dir
from tests.desktop.test_desktop_e2e import CANVAS_STATS, DESKTOP_VISIBLE, XTERM_VISIBLE
from tests.e2e.browser import login, screenshot
from tests.hub import RunningHub, env_of, processes_mentioning, wait_for_none

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.e2e

for tool in ("Xvnc", "openbox", "xterm", "dbus-launch"):
    if shutil.which(tool) is None:
        pytest.skip(f"desktop tool {tool} is not installed", allow_module_level=True)


def apps_url(env: dict[str, str], user: str, server: str) -> str:
    return f"{env['ARCADE_API_URL']}/users/{user}/sessions/{server}/apps"


def websocket_upgrade(url: str, cookies: dict[str, str] | None = None) -> int:
    """Status of a raw websocket upgrade request to `url` (through the proxy)."""
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    return httpx.get(url, headers=headers, cookies=cookies, timeout=30).status_code


async def test_desktop_session_through_the_hub(hub: RunningHub) -> None:
    out = artifacts_dir("hub-desktop")
    figures: dict[str, float] = {}
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        start = time.monotonic()
        await login(page, hub, "alice")
        await page.goto(f"{hub.url}/hub/spawn/alice/desk")
        await page.check("#image-desktop")
        await page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
        await page.wait_for_url("**/user/alice/desk/desktop/**", timeout=90_000)
        await page.wait_for_function(DESKTOP_VISIBLE, polling=50, timeout=60_000)
        figures["login_to_desktop_s"] = time.monotonic() - start
        screen = page.locator("#screen canvas")
        await screenshot(screen, "desktop")
        bare = await page.evaluate(CANVAS_STATS)
        # The desktop's menu (a click on the desktop, as its hint says) lists the apps.
        await screen.click(button="right", position={"x": 400, "y": 300})  # off the hint
        more_colours = f"() => ({CANVAS_STATS})().colours > {bare['colours']} + 2"
        await page.wait_for_function(more_colours, polling=50, timeout=20_000)
        menu = await page.evaluate(CANVAS_STATS)
        await page.keyboard.press("c")  # the CASA submenu (first-letter shortcut): its versions
        await page.wait_for_function(
            f"() => ({CANVAS_STATS})().white > {menu['white']} + 500", polling=50, timeout=20_000
        )
        await screenshot(screen, "desktop-menu")
        await page.keyboard.press("Escape")
        await page.wait_for_function(f"() => !({more_colours})()", polling=50, timeout=20_000)

        # The session launches an app with its own token, as `arcade-launch xterm` does.
        env = env_of(hub, "alice", "desk")
        session_id = env["ARCADE_SESSION_ID"]
        own = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"}
        start = time.monotonic()
        r = httpx.post(apps_url(env, "alice", "desk"), headers=own, json={"app": "xterm"})
        assert r.status_code == 201, r.text
        await page.wait_for_function(XTERM_VISIBLE, polling=50, timeout=30_000)
        figures["app_to_window_s"] = time.monotonic() - start
        await page.locator("#screen canvas").screenshot(path=out / "xterm.png")
        after = await page.evaluate(CANVAS_STATS)
        assert after["white"] > bare["white"] + 5000

        launched = int(r.json()["pid"])
        uid = Path(f"/proc/{launched}").stat().st_uid
        assert uid == Path(f"/proc/{env['_pid']}").stat().st_uid  # the session's own user
        app_env = Path(f"/proc/{launched}/environ").read_bytes()
        assert f"ARCADE_SESSION_ID={session_id}".encode() in app_env
        assert f"ARCADE_HOME={env['ARCADE_HOME']}".encode() in app_env

        # As root, the per-user uid has a name and a session bus (nss_wrapper), so the
        # desktop runs dbus like on a workstation.
        if os.geteuid() == 0 and nss_wrapper_library():
            assert f"alice:x:{uid}:" in Path(env["NSS_WRAPPER_PASSWD"]).read_text()
            names = {psutil.Process(p).name() for p in processes_mentioning(session_id)}
            assert {"Xvnc", "openbox", "dbus-daemon", "xterm"} <= names, names

        # The `arcade-launch` command inside the session lists and refuses clearly.
        cli = subprocess.run(
            [env["ARCADE_DESKTOP_LAUNCH_COMMAND"], "no-such-app"],
            env={k: v for k, v in env.items() if not k.startswith("_")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1 and "no app 'no-such-app' in the catalogue" in cli.stderr

        # Nothing of the desktop listens on TCP.
        ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        assert "Xvnc" not in ss and "X11" not in ss, ss

        # Security: no websocket without login, nothing for another user.
        ws = f"{hub.url}/user/alice/desk/desktop-websockify/"
        assert websocket_upgrade(ws) in (302, 403)
        mallory = await browser.new_context()
        other = await mallory.new_page()
        await login(other, hub, "mallory")
        cookies = {c["name"]: c["value"] for c in await mallory.cookies()}
        denied = await other.goto(f"{hub.url}/user/alice/desk/desktop/")
        assert denied is not None and denied.status == 403
        assert websocket_upgrade(ws, cookies) in (302, 403)
        token = hub.user_token("mallory")
        r = httpx.post(
            apps_url(env, "alice", "desk"),
            headers={"Authorization": f"token {token}"},
            json={"app": "xterm"},
        )
        assert r.status_code == 403 and "may not act on sessions of 'alice'" in r.json()["message"]
        await browser.close()

    hub.stop_server("alice", "desk")
    assert not wait_for_none(lambda: processes_mentioning(session_id), 10)
    (out / "figures.json").write_text(str(figures))


def test_launch_api_refusals(hub: RunningHub) -> None:
    hub.api("POST", "/users/ivan")
    r = hub.api("POST", "/users/ivan/servers/nb", json={"image": "notebook"})
    assert r.status_code in (201, 202)
    hub.wait_ready("ivan", "nb")
    env = env_of(hub, "ivan", "nb")
    own = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"}
    url = apps_url(env, "ivan", "nb")
    cases = [
        ({"app": "xterm"}, 409, "is not a desktop session"),
        ({"app": "notebook"}, 400, "JupyterLab is a notebook, not a desktop app"),
        ({"app": "nope"}, 404, "no app 'nope' in the catalogue"),
        ({}, 400, "give the app to launch"),
    ]
    for body, status, message in cases:
        r = httpx.post(url, headers=own, json=body)
        assert (r.status_code, message in r.json()["message"]) == (status, True), r.text
    r = httpx.post(url, headers=own, content=b"not json")
    assert r.status_code == 400 and "must be JSON" in r.json()["message"]
    r = httpx.post(url, json={"app": "xterm"})
    assert r.status_code == 403 and "authentication required" in r.json()["message"]
    gone = apps_url(env, "ivan", "nope")
    r = httpx.post(gone, headers=own, json={"app": "xterm"})
    assert r.status_code == 404 and "ivan/nope is not running" in r.json()["message"]
    hub.stop_server("ivan", "nb")
