"""Debian Chromium through Playwright, logged in to the embedded platform (shared password)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe

from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.hub import RunningHub

playwright_api = pytest.importorskip("playwright.async_api")


async def login(page: Any, hub: RunningHub, user: str) -> None:
    await page.goto(f"{hub.url}/hub/login")
    await page.fill("#username_input", user)
    await page.fill("#password_input", hub.password)
    await page.click("#login_submit")
    await page.wait_for_url("**/services/arcade/jobs")  # a login lands on Sessions


@contextlib.asynccontextmanager
async def logged_in_page(hub: RunningHub, user: str) -> AsyncIterator[Any]:
    """A page of a fresh Chromium in which `user` has logged in to the hub."""
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await login(page, hub, user)
            yield page
        finally:
            await browser.close()


SCREENSHOTS = Path(
    os.environ.get("ARCADE_SCREENSHOTS")
    or Path(__file__).parent.parent / "artifacts" / "screenshots"
)
"""Where the pages' screenshots go: tests/artifacts/screenshots, or the docs' images with
`scripts/screenshots.sh` (ARCADE_SCREENSHOTS=docs/images)."""

SERIOUS = ("serious", "critical")


async def screenshot(target: Any, name: str) -> Path:
    """A screenshot of a page or locator as SCREENSHOTS/`name`.png (the docs show them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    full = {"full_page": True} if hasattr(target, "goto") else {}
    await target.screenshot(path=path, **full)
    return path


ANY = ("minor", "moderate", *SERIOUS)


async def accessibility_problems(page: Any, impacts: tuple[str, ...] = SERIOUS) -> list[str]:
    """axe-core's violations of these impacts (serious and critical unless told) on the page
    as it is now, one line each (rule, impact, the first offending elements)."""
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in impacts
    ]
