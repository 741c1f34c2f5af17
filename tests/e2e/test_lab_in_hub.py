"""A new user's first JupyterLab, in Debian Chromium through the real hub: no "Jupyter news"
prompt (nor an update check) greets them, and the file browser, which opens on the home,
shows the project spaces, datasets and scratch beside it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.desktop.conftest import artifacts_dir
from tests.e2e.browser import logged_in_page, screenshot
from tests.hub import RunningHub

pytestmark = pytest.mark.e2e

NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"
ANNOUNCEMENTS_CONFIG = "api/config/jupyterlabapputilsextensionannouncements"
"""Read by JupyterLab's announcements plugin right before it decides to prompt for news."""
TOASTS = ".Toastify__toast"
FRAMES = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


async def open_lab(page: Any, hub: RunningHub, user: str, server: str) -> None:
    """Launch a notebook with a dataset from the form; return once JupyterLab has restored
    its layout and its announcements plugin has read what it decides on."""
    await page.goto(f"{hub.url}/hub/spawn/{user}/{server}")
    await page.check("#image-notebook")
    await page.select_option("#dataset", "public-sky")
    async with page.expect_response(
        lambda r: ANNOUNCEMENTS_CONFIG in r.url, timeout=120_000
    ) as config:
        await page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
        await page.wait_for_url(f"**/user/{user}/{server}/lab**", timeout=90_000)
    await config.value
    await page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    await page.wait_for_selector(".jp-DirListing-content", timeout=30_000)
    await page.evaluate(FRAMES)  # what the plugin emits on restore is rendered by now


async def test_a_new_user_gets_no_news_prompt_and_sees_all_storage(hub: RunningHub) -> None:
    out = artifacts_dir("lab")
    async with logged_in_page(hub, "nina") as page:
        await open_lab(page, hub, "nina", "first")
        toasts = await page.locator(TOASTS).all_inner_texts()
        await page.screenshot(path=out / "first-lab.png")
        assert not [t for t in toasts if "news" in t.lower() or "version" in t.lower()], toasts

        # What the announcements plugin decides on: never fetch news, never check updates.
        r = await page.request.get(
            f"{hub.url}/user/nina/first/lab/api/settings/{NOTIFICATION_PLUGIN}")
        assert r.ok, await r.text()
        settings = await r.json()
        defaults = {k: v.get("default") for k, v in settings["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false", json.dumps(settings["schema"])[:500]
        assert defaults["checkForUpdates"] is False

        # The file browser opens on the home; its root holds the rest of the storage.
        crumbs = await page.locator(".jp-BreadCrumbs").inner_text()
        assert "home" in crumbs, crumbs
        await page.click(".jp-BreadCrumbs-home")
        names = page.locator(".jp-DirListing-itemName")
        await names.filter(has_text="datasets").wait_for()
        assert sorted(await names.all_inner_texts()) == [
            "datasets", "home", "projects", "scratch"]  # fmt: skip
        await screenshot(page, "lab-file-browser")  # the launch how-to shows it
        await page.locator(".jp-DirListing-item", has=names.filter(has_text="datasets")).dblclick()
        await names.filter(has_text="public-sky").wait_for()
        await page.screenshot(path=out / "file-browser-datasets.png")
    hub.stop_server("nina", "first")
