"""Debian Chromium through Playwright, logged in to the embedded platform (shared password)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.hub import RunningHub

playwright_api = pytest.importorskip("playwright.async_api")


async def login(page: Any, hub: RunningHub, user: str) -> None:
    await page.goto(f"{hub.url}/hub/login")
    await page.fill("#username_input", user)
    await page.fill("#password_input", hub.password)
    await page.click("#login_submit")
    await page.wait_for_url("**/hub/**")


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
